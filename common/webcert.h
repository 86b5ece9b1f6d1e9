/*
 * webcert.h: the self-signed certificate a web server makes for itself on
 * its first start, when HTTPS is asked for without a certificate (the
 * owner's panel on a house's Wi-Fi has no name a public CA would sign).
 *
 * The key is ECDSA P-256 (quick to make on a small board), the certificate
 * is valid for 10 years and names the host in its subject and
 * subjectAltName. Both files are written with mode 0600 next to each other
 * (the key first, then the certificate, each by rename, so that a crash
 * leaves either the old pair or no certificate, which is made again).
 *
 * The SHA-256 fingerprint is what an owner compares with the one the
 * browser shows before trusting the certificate.
 */
#ifndef SH_WEBCERT_H
#define SH_WEBCERT_H

#include <stddef.h>

/* The SHA-256 fingerprint as "AB:CD:...": 95 characters and a NUL. */
#define WEBCERT_FPR_LEN 96

/* Make cert_file and key_file when cert_file does not exist (name: the
 * subject's CN and DNS name, e.g. "safehouse-nt-1"), then read cert_file's
 * fingerprint into fpr. Returns 1 when a new pair was made, 0 when the
 * files were there, negative with err set ("cannot write /var/lib/...:
 * Permission denied"). */
int webcert_ensure(const char *cert_file, const char *key_file, const char *name, char *fpr,
                   char *err, size_t errlen);

#endif
