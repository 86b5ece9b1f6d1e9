/*
 * webcert.c: a self-signed certificate for a web server, with GnuTLS (the
 * library libmicrohttpd serves HTTPS with).
 */
#include "common/webcert.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define VALID_S (10LL * 365 * 86400)

/* Write data to path through path.tmp, mode 0600, synced. */
static int write_private(const char *path, const void *data, size_t len, char *err, size_t errlen)
{
	char tmp[4096];
	int fd, rc = -1;
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
		snprintf(err, errlen, "%s: path too long", path);
		return -ENAMETOOLONG;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
		return rc;
	}
	if (write(fd, data, len) != (ssize_t)len || fsync(fd) < 0) {
		rc = -(errno ? errno : EIO);
		snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(-rc));
		goto out;
	}
	if (close(fd) < 0 || rename(tmp, path) < 0) {
		fd = -1;
		rc = -errno;
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
		goto out;
	}
	return 0;
out:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return rc;
}

static int make_pair(const char *cert_file, const char *key_file, const char *name, char *err,
                     size_t errlen)
{
	gnutls_x509_privkey_t key = NULL;
	gnutls_x509_crt_t crt = NULL;
	gnutls_datum_t kpem = {0}, cpem = {0};
	unsigned char serial[16];
	time_t now = time(NULL);
	int rc = -1, g;

	if ((g = gnutls_x509_privkey_init(&key)) < 0 ||
	    (g = gnutls_x509_privkey_generate(
	         key, GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0)) < 0 ||
	    (g = gnutls_x509_crt_init(&crt)) < 0 || (g = gnutls_x509_crt_set_version(crt, 3)) < 0 ||
	    (g = gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof(serial))) < 0)
		goto gnutls_failed;
	serial[0] &= 0x7f; /* a positive serial number */
	if ((g = gnutls_x509_crt_set_serial(crt, serial, sizeof(serial))) < 0 ||
	    (g = gnutls_x509_crt_set_activation_time(crt, now - 86400)) < 0 ||
	    (g = gnutls_x509_crt_set_expiration_time(crt, now + VALID_S)) < 0 ||
	    (g = gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, name,
	                                       strlen(name))) < 0 ||
	    (g = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, name, strlen(name),
	                                              GNUTLS_FSAN_SET)) < 0 ||
	    (g = gnutls_x509_crt_set_key(crt, key)) < 0 ||
	    (g = gnutls_x509_crt_set_basic_constraints(crt, 0, -1)) < 0 ||
	    (g = gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE)) < 0 ||
	    (g = gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_SERVER, 0)) < 0 ||
	    (g = gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0)) < 0 ||
	    (g = gnutls_x509_privkey_export2(key, GNUTLS_X509_FMT_PEM, &kpem)) < 0 ||
	    (g = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &cpem)) < 0)
		goto gnutls_failed;
	/* The key first: a certificate on disk always has its key. */
	if (write_private(key_file, kpem.data, kpem.size, err, errlen) < 0 ||
	    write_private(cert_file, cpem.data, cpem.size, err, errlen) < 0)
		goto out;
	rc = 0;
	goto out;
gnutls_failed:
	snprintf(err, errlen, "cannot make a certificate: %s", gnutls_strerror(g));
out:
	if (kpem.data) {
		explicit_bzero(kpem.data, kpem.size);
		gnutls_free(kpem.data);
	}
	gnutls_free(cpem.data);
	if (crt)
		gnutls_x509_crt_deinit(crt);
	if (key)
		gnutls_x509_privkey_deinit(key);
	return rc;
}

static int fingerprint(const char *cert_file, char *fpr, char *err, size_t errlen)
{
	gnutls_datum_t pem = {0};
	gnutls_x509_crt_t crt = NULL;
	unsigned char md[32];
	size_t mdlen = sizeof(md);
	int g, rc = -1;

	if ((g = gnutls_load_file(cert_file, &pem)) < 0) {
		snprintf(err, errlen, "cannot read %s: %s", cert_file, gnutls_strerror(g));
		return -1;
	}
	if ((g = gnutls_x509_crt_init(&crt)) < 0 ||
	    (g = gnutls_x509_crt_import(crt, &pem, GNUTLS_X509_FMT_PEM)) < 0 ||
	    (g = gnutls_x509_crt_get_fingerprint(crt, GNUTLS_DIG_SHA256, md, &mdlen)) < 0) {
		snprintf(err, errlen, "%s: %s", cert_file, gnutls_strerror(g));
		goto out;
	}
	for (size_t i = 0; i < mdlen; i++)
		snprintf(fpr + 3 * i, 4, i + 1 < mdlen ? "%02X:" : "%02X", md[i]);
	rc = 0;
out:
	if (crt)
		gnutls_x509_crt_deinit(crt);
	gnutls_free(pem.data);
	return rc;
}

int webcert_ensure(const char *cert_file, const char *key_file, const char *name, char *fpr,
                   char *err, size_t errlen)
{
	int made = 0;
	fpr[0] = 0;
	if (access(cert_file, F_OK) < 0 || access(key_file, F_OK) < 0) {
		if (make_pair(cert_file, key_file, name, err, errlen) < 0)
			return -1;
		made = 1;
	}
	if (fingerprint(cert_file, fpr, err, errlen) < 0)
		return -1;
	return made;
}
