/*
 * messages.c: the catalogue, the alert texts and SMS segmentation.
 */
#include "messages.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "config.h"

/* [id][language], language in enum config_language order. */
static const char *const catalogue[MSG__COUNT][LANG__COUNT] = {
    [MSG_CLASS_FIRE] = {"BÁO CHÁY", "FIRE ALARM"},
    [MSG_CLASS_GAS] = {"RÒ RỈ KHÍ GAS", "GAS LEAK"},
    [MSG_CLASS_PANIC] = {"BÁO ĐỘNG KHẨN CẤP (SOS)", "PANIC (SOS)"},
    [MSG_CLASS_INTRUSION] = {"ĐỘT NHẬP", "INTRUSION"},
    [MSG_CLASS_TAMPER] = {"PHÁ HOẠI THIẾT BỊ", "TAMPER"},
    [MSG_CLASS_SUPERVISORY] = {"CẢNH BÁO GIÁM SÁT", "SUPERVISORY"},
    [MSG_CLASS_FAULT] = {"LỖI THIẾT BỊ", "FAULT"},
    [MSG_DEVICE] = {"Thiết bị", "Device"},
    [MSG_PHONE] = {"ĐT", "Tel"},
    [MSG_FAULT_UPSTREAM] = {"Mất kết nối tới trung tâm (dân quân)",
                            "Link to the militia's centre lost"},
    [MSG_FAULT_STORE] = {"Lỗi lưu trữ: không ghi được dữ liệu (%s); báo động vẫn được gửi đi",
                         "Storage fault: cannot write data (%s); alarms are still sent"},
    [MSG_KEYPAD_LOCKOUT] = {"Khóa nhập mã sau 5 lần nhập sai", "Keypad locked after 5 wrong codes"},
    [MSG_FAULT_MODBUS] = {"Lỗi Modbus (bus fault): bus %s, unit %d%s%s",
                          "Modbus fault: bus %s, unit %d%s%s"},
    [MSG_DURESS] = {"Mã cưỡng ép (duress): cần hỗ trợ khẩn cấp", "Duress code: urgent help needed"},
};

const char *messages_in(int language, enum messages_id id)
{
	if ((unsigned)id >= MSG__COUNT)
		return "?";
	if (language < 0 || language >= LANG__COUNT)
		language = LANG_VI;
	return catalogue[id][language];
}

const char *messages_get(const struct config *c, enum messages_id id)
{
	return messages_in(c ? c->site.language : LANG_VI, id);
}

const char *messages_class_label(const struct config *c, enum sh_alarm_class cls)
{
	if ((unsigned)cls >= ALARM__COUNT)
		return "?";
	return messages_get(c, (enum messages_id)(MSG_CLASS_FIRE + (int)cls));
}

/* ---- SMS parts ---- */

/* GSM 03.38 basic character set, beyond printable ASCII less the ones it
 * lacks (` and the extension-table characters). */
static int gsm7_basic(uint32_t cp)
{
	static const uint32_t extra[] = {
	    0x00A3, 0x00A5, 0x00E8, 0x00E9, 0x00F9, 0x00EC, 0x00F2, 0x00C7, 0x00D8, 0x00F8,
	    0x00C5, 0x00E5, 0x0394, 0x03A6, 0x0393, 0x039B, 0x03A9, 0x03A0, 0x03A8, 0x03A3,
	    0x0398, 0x039E, 0x00C6, 0x00E6, 0x00DF, 0x00C9, 0x00A4, 0x00A1, 0x00C4, 0x00D6,
	    0x00D1, 0x00DC, 0x00A7, 0x00BF, 0x00E4, 0x00F6, 0x00F1, 0x00FC, 0x00E0};
	if (cp == '\n' || cp == '\r')
		return 1;
	if (cp >= 0x20 && cp < 0x7F)
		return !strchr("`^{}[]~|\\", (int)cp);
	for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++)
		if (extra[i] == cp)
			return 1;
	return 0;
}

/* One UTF-8 character at s: its code point and length; a byte that does
 * not start a valid sequence is itself (length 1, cp 0xFFFD). */
static size_t utf8_next(const unsigned char *s, uint32_t *cp)
{
	size_t n, i;
	uint32_t v;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if ((s[0] & 0xE0) == 0xC0) {
		n = 2;
		v = s[0] & 0x1F;
	} else if ((s[0] & 0xF0) == 0xE0) {
		n = 3;
		v = s[0] & 0x0F;
	} else if ((s[0] & 0xF8) == 0xF0) {
		n = 4;
		v = s[0] & 0x07;
	} else {
		*cp = 0xFFFD;
		return 1;
	}
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80) {
			*cp = 0xFFFD;
			return 1;
		}
		v = (v << 6) | (s[i] & 0x3F);
	}
	*cp = v;
	return n;
}

int messages_sms_parts(const char *utf8)
{
	const unsigned char *s = (const unsigned char *)(utf8 ? utf8 : "");
	size_t septets = 0, units = 0;
	int gsm = 1;

	while (*s) {
		uint32_t cp;
		s += utf8_next(s, &cp);
		septets++;
		units += cp > 0xFFFF ? 2 : 1;
		if (!gsm7_basic(cp))
			gsm = 0;
	}
	if (gsm)
		return septets <= 160 ? 1 : (int)((septets + 152) / 153);
	return units <= 70 ? 1 : (int)((units + 66) / 67);
}

/* ---- alert texts ---- */

/* The pieces an SMS may leave out, least needed first. */
enum piece { P_DEVICE, P_DETAIL, P_PHONE, P_ADDRESS, P_ROOM, P__COUNT };

static int has(const char *s)
{
	return s && s[0];
}

/* The text with the pieces whose bit is set in keep. */
static void compose(const struct config *c, const struct messages_alert *a, unsigned keep,
                    char *buf, size_t size)
{
	int room = (keep >> P_ROOM & 1) && has(a->room);
	int addr = (keep >> P_ADDRESS & 1) && has(a->address);
	int dev = (keep >> P_DEVICE & 1) && has(a->device);
	int det = (keep >> P_DETAIL & 1) && has(a->detail);
	int ph = (keep >> P_PHONE & 1) && has(a->phone);

	snprintf(buf, size, "%s: %s%s%s%s%s.%s%s%s%s%s%s%s%s%s%s%s",
	         messages_class_label(c, a->cls), room ? a->room : "", room ? " - " : "",
	         has(a->house) ? a->house : "?", addr ? ", " : "", addr ? a->address : "",
	         dev ? " " : "", dev ? messages_get(c, MSG_DEVICE) : "", dev ? ": " : "",
	         dev ? a->device : "", dev ? "." : "", det ? " " : "", det ? a->detail : "",
	         det ? "." : "", ph ? " " : "", ph ? messages_get(c, MSG_PHONE) : "",
	         ph ? ": " : "");
	if (ph) {
		size_t n = strlen(buf);
		if (n < size)
			snprintf(buf + n, size - n, "%s", a->phone);
	}
}

/* Cut buf back to whole UTF-8 characters (after a truncating snprintf). */
static void utf8_trim(char *buf)
{
	size_t n = strlen(buf), i = n;
	unsigned char lead;
	size_t want;

	while (i > 0 && ((unsigned char)buf[i - 1] & 0xC0) == 0x80)
		i--;
	if (i == 0)
		return;
	lead = (unsigned char)buf[i - 1];
	want = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
	if (n - (i - 1) < want)
		buf[i - 1] = '\0';
}

static int fits(const char *s, size_t size)
{
	return strlen(s) + 1 < size;
}

int messages_alert_text(const struct config *c, const struct messages_alert *a, int for_sms,
                        char *buf, size_t size)
{
	unsigned all = (1u << P__COUNT) - 1, keep;
	int target;

	if (!buf || size == 0 || !a)
		return -1;
	compose(c, a, for_sms ? 0 : all, buf, size);
	if (!fits(buf, size)) {
		utf8_trim(buf);
		return -1;
	}
	if (!for_sms) {
		compose(c, a, all, buf, size);
		if (!fits(buf, size))
			utf8_trim(buf);
		return messages_sms_parts(buf);
	}
	/* The fewest parts the class and the house need; then leave out
	 * the least needed piece until the text fits in them. */
	target = messages_sms_parts(buf);
	for (int drop = 0; drop <= P__COUNT; drop++) {
		keep = all & ~((1u << drop) - 1);
		compose(c, a, keep, buf, size);
		if (fits(buf, size) && messages_sms_parts(buf) <= target)
			break;
	}
	return messages_sms_parts(buf);
}
