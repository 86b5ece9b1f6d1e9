/*
 * report_html.c: the compliance report as one printable HTML page.
 *
 * The page is for an inspector who may print it in black and white, read
 * it on a laptop without internet, or keep it as a PDF: so everything is
 * inline (CSS, SVG), fonts are the system's (DejaVu Sans has every
 * Vietnamese glyph), each result says itself in words as well as colour,
 * and tables repeat their header and never split a row across pages.
 *
 * The object comes from compliance.c, but is treated as outside input: a
 * missing or odd field is a "—", never a crash, and every string is
 * escaped.
 */
#include "gateway/report_html.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "sensors/point.h"

#define DASH "\xe2\x80\x94" /* "—" */

/* A bar chart of more days than this shows the last ones only: a page is
 * 180 mm wide, and a year's bars are already a hair each. */
#define CHART_MAX_DAYS 366
/* A battery sparkline keeps at most this many points (the last ones). */
#define SPARK_MAX_POINTS 400

enum lang { L_VI, L_EN };

enum label {
	T_TITLE,
	T_SITE,
	T_SITE_ID,
	T_ADDRESS,
	T_PHONE,
	T_PERIOD,
	T_GENERATED,
	T_VERDICT,
	T_VERDICT_PASS,
	T_VERDICT_FAIL,
	T_VERDICT_INCOMPLETE,
	T_PASSED,
	T_FAILED,
	T_NOT_CHECKED,
	T_CRITERIA,
	T_CRITERION,
	T_KIND,
	T_AUTO,
	T_MANUAL,
	T_RESULT,
	T_EVIDENCE,
	T_R_PASS,
	T_R_FAIL,
	T_R_NOT_CHECKED,
	T_CHART,
	T_ALARMS,
	T_FAULTS,
	T_NONE,
	T_ID,
	T_CLASS,
	T_ZONE,
	T_SENSOR,
	T_RAISED,
	T_ACKED,
	T_TIME_TO_ACK,
	T_RESET,
	T_TIME_TO_RESET,
	T_NOTE,
	T_FALSE_ALARM,
	T_RULE,
	T_MESSAGE,
	T_FROM,
	T_TO,
	T_DURATION,
	T_DISABLEMENTS,
	T_BY,
	T_REASON,
	T_WALK_TESTS,
	T_AT,
	T_INVENTORY,
	T_FLOOR,
	T_SENSORS,
	T_OUTPUTS,
	T_BATTERY,
	T_ONLINE,
	T_OFFLINE,
	T_BATTERIES,
	T_LAST,
	T_MIN,
	T_TREND,
	T_LINKS,
	T_UPSTREAM_AVAIL,
	T_UPSTREAM_DOWN,
	T_OUTBOX_DELIVERED,
	T_OUTBOX_PENDING,
	T_OUTBOX_FAILED,
	T_OUTBOX_OLDEST,
	T_INSPECTION,
	T_NO_INSPECTION,
	T_INSPECTOR,
	T_STARTED,
	T_FINISHED,
	T_SIGNATURES,
	T_SIGN_INSPECTOR,
	T_SIGN_OWNER,
	T_SIGN_HINT,
	T_LOG,
	T_LOG_VERIFIED,
	T_LOG_OK,
	T_LOG_BROKEN,
	T_LOG_UNKNOWN,
	T_LOG_HEAD,
	T_LOG_ROW,
	T_LOG_HASH,
	T_LOG_HINT,
	T_DAY,
	T__COUNT
};

static const char *const labels[T__COUNT][2] = {
    [T_TITLE] = {"Báo cáo kiểm tra an toàn phòng cháy", "Fire safety compliance report"},
    [T_SITE] = {"Cơ sở", "Site"},
    [T_SITE_ID] = {"Mã cơ sở", "Site ID"},
    [T_ADDRESS] = {"Địa chỉ", "Address"},
    [T_PHONE] = {"Điện thoại", "Phone"},
    [T_PERIOD] = {"Thời gian báo cáo", "Period"},
    [T_GENERATED] = {"Lập lúc", "Generated"},
    [T_VERDICT] = {"Kết luận", "Verdict"},
    [T_VERDICT_PASS] = {"ĐẠT", "PASS"},
    [T_VERDICT_FAIL] = {"KHÔNG ĐẠT", "FAIL"},
    [T_VERDICT_INCOMPLETE] = {"CHƯA KIỂM TRA ĐỦ", "INCOMPLETE"},
    [T_PASSED] = {"Đạt", "Passed"},
    [T_FAILED] = {"Không đạt", "Failed"},
    [T_NOT_CHECKED] = {"Chưa kiểm tra", "Not checked"},
    [T_CRITERIA] = {"Tiêu chí kiểm tra", "Criteria"},
    [T_CRITERION] = {"Tiêu chí", "Criterion"},
    [T_KIND] = {"Loại", "Kind"},
    [T_AUTO] = {"Tự động", "Automatic"},
    [T_MANUAL] = {"Tại chỗ", "Manual"},
    [T_RESULT] = {"Kết quả", "Result"},
    [T_EVIDENCE] = {"Căn cứ", "Evidence"},
    [T_R_PASS] = {"\xe2\x9c\x94 Đạt", "\xe2\x9c\x94 Pass"},
    [T_R_FAIL] = {"\xe2\x9c\x98 Không đạt", "\xe2\x9c\x98 Fail"},
    [T_R_NOT_CHECKED] = {"? Chưa kiểm tra", "? Not checked"},
    [T_CHART] = {"Báo động và lỗi theo ngày", "Alarms and faults per day"},
    [T_ALARMS] = {"Báo động", "Alarms"},
    [T_FAULTS] = {"Lỗi thiết bị", "Faults"},
    [T_NONE] = {"Không có.", "None."},
    [T_ID] = {"Số", "ID"},
    [T_CLASS] = {"Loại", "Class"},
    [T_ZONE] = {"Khu vực", "Zone"},
    [T_SENSOR] = {"Thiết bị", "Sensor"},
    [T_RAISED] = {"Phát lúc", "Raised"},
    [T_ACKED] = {"Xác nhận", "Acknowledged"},
    [T_TIME_TO_ACK] = {"Thời gian xác nhận", "Time to ack"},
    [T_RESET] = {"Đặt lại", "Reset"},
    [T_TIME_TO_RESET] = {"Thời gian đặt lại", "Time to reset"},
    [T_NOTE] = {"Ghi chú", "Note"},
    [T_FALSE_ALARM] = {"BÁO ĐỘNG GIẢ", "FALSE ALARM"},
    [T_RULE] = {"Quy tắc", "Rule"},
    [T_MESSAGE] = {"Nội dung", "Message"},
    [T_FROM] = {"Từ", "From"},
    [T_TO] = {"Đến", "To"},
    [T_DURATION] = {"Kéo dài", "Duration"},
    [T_DISABLEMENTS] = {"Tạm ngắt thiết bị", "Disablements"},
    [T_BY] = {"Người thực hiện", "By"},
    [T_REASON] = {"Lý do", "Reason"},
    [T_WALK_TESTS] = {"Thử thiết bị tại chỗ", "Walk tests"},
    [T_AT] = {"Lúc", "At"},
    [T_INVENTORY] = {"Danh mục thiết bị", "Inventory"},
    [T_FLOOR] = {"Tầng", "Floor"},
    [T_SENSORS] = {"Đầu báo", "Sensors"},
    [T_OUTPUTS] = {"Đầu ra (còi, rơ-le)", "Outputs (sirens, relays)"},
    [T_BATTERY] = {"Pin", "Battery"},
    [T_ONLINE] = {"trực tuyến", "online"},
    [T_OFFLINE] = {"MẤT KẾT NỐI", "OFFLINE"},
    [T_BATTERIES] = {"Pin của thiết bị", "Batteries"},
    [T_LAST] = {"Cuối kỳ", "Last"},
    [T_MIN] = {"Thấp nhất", "Lowest"},
    [T_TREND] = {"Diễn biến", "Trend"},
    [T_LINKS] = {"Kết nối trung tâm và hàng đợi tin", "Upstream link and outbox"},
    [T_UPSTREAM_AVAIL] = {"Kết nối trung tâm sẵn sàng", "Upstream availability"},
    [T_UPSTREAM_DOWN] = {"Thời gian mất kết nối", "Upstream down"},
    [T_OUTBOX_DELIVERED] = {"Tin đã gửi", "Messages delivered"},
    [T_OUTBOX_PENDING] = {"Tin đang chờ", "Messages pending"},
    [T_OUTBOX_FAILED] = {"Tin gửi lỗi", "Messages failed"},
    [T_OUTBOX_OLDEST] = {"Tin chờ lâu nhất", "Oldest pending"},
    [T_INSPECTION] = {"Kiểm tra tại chỗ", "On-site inspection"},
    [T_NO_INSPECTION] = {"Chưa có lần kiểm tra tại chỗ nào trong kỳ.",
                         "No on-site inspection in this period."},
    [T_INSPECTOR] = {"Người kiểm tra", "Inspector"},
    [T_STARTED] = {"Bắt đầu", "Started"},
    [T_FINISHED] = {"Kết thúc", "Finished"},
    [T_SIGNATURES] = {"Xác nhận", "Signatures"},
    [T_SIGN_INSPECTOR] = {"Cán bộ kiểm tra", "Inspector"},
    [T_SIGN_OWNER] = {"Chủ cơ sở", "Owner"},
    [T_SIGN_HINT] = {"(ký, ghi rõ họ tên)", "(signature and full name)"},
    [T_LOG] = {"Nhật ký sự kiện", "Event log"},
    [T_LOG_VERIFIED] = {"Kiểm tra chuỗi nhật ký", "Log chain check"},
    [T_LOG_OK] = {"\xe2\x9c\x94 Toàn vẹn", "\xe2\x9c\x94 Intact"},
    [T_LOG_BROKEN] = {"\xe2\x9c\x98 BỊ SỬA HOẶC HỎNG", "\xe2\x9c\x98 ALTERED OR DAMAGED"},
    [T_LOG_UNKNOWN] = {"? Chưa kiểm tra", "? Not checked"},
    [T_LOG_HEAD] = {"Đầu chuỗi", "Chain head"},
    [T_LOG_ROW] = {"Dòng", "Row"},
    [T_LOG_HASH] = {"Mã băm", "Hash"},
    [T_LOG_HINT] = {"So sánh dòng và mã băm này với bản lưu ở trung tâm giám sát.",
                    "Compare this row and hash with the monitoring station's copy."},
    [T_DAY] = {"Ngày", "Day"},
};

/* Class labels for tables: sentence case, unlike the alerts' capitals. */
static const char *const class_labels[ALARM__COUNT][2] = {
    [ALARM_FIRE] = {"Báo cháy", "Fire"},
    [ALARM_GAS] = {"Rò rỉ khí gas", "Gas leak"},
    [ALARM_PANIC] = {"Khẩn cấp (SOS)", "Panic (SOS)"},
    [ALARM_INTRUSION] = {"Đột nhập", "Intrusion"},
    [ALARM_TAMPER] = {"Phá hoại thiết bị", "Tamper"},
    [ALARM_SUPERVISORY] = {"Cảnh báo giám sát", "Supervisory"},
    [ALARM_FAULT] = {"Lỗi thiết bị", "Fault"},
};

/* The print stylesheet. WHY each rule: @page sets A4 and margins; thead
 * repeats on each page; a row never splits; a heading stays with what
 * follows; print-color-adjust keeps the result colours when printing. */
static const char css[] =
    "@page{size:A4;margin:14mm 12mm 16mm 12mm}\n"
    "*{box-sizing:border-box}\n"
    "html{-webkit-print-color-adjust:exact;print-color-adjust:exact}\n"
    "body{font-family:\"DejaVu Sans\",\"Noto Sans\",\"Liberation Sans\",Arial,sans-serif;"
    "font-size:9pt;line-height:1.35;color:#000;background:#fff;margin:0 auto;max-width:186mm}\n"
    "h1{font-size:15pt;margin:0 0 2mm}\n"
    "h2{font-size:11.5pt;margin:5mm 0 1.5mm;border-bottom:0.4mm solid #000;"
    "break-after:avoid;page-break-after:avoid}\n"
    "h3{font-size:10pt;margin:3mm 0 1mm;break-after:avoid;page-break-after:avoid}\n"
    "table{width:100%;border-collapse:collapse;margin:1mm 0 2mm}\n"
    "thead{display:table-header-group}\n"
    "tr,svg,.keep{break-inside:avoid;page-break-inside:avoid}\n"
    "svg.chart{width:100%;height:auto}\n"
    "table.small{font-size:7.5pt}\n"
    "th,td{border:0.25mm solid #555;padding:0.8mm 1.2mm;text-align:left;vertical-align:top}\n"
    "th{background:#e6e6e6;font-weight:bold}\n"
    "table.kv th{width:38%}\n"
    ".num{text-align:right;white-space:nowrap}\n"
    ".nowrap{white-space:nowrap}\n"
    ".mono{font-family:\"DejaVu Sans Mono\",monospace;word-break:break-all}\n"
    ".pass{background:#d7f0d7;font-weight:bold}\n"
    ".fail{background:#f7d0d0;font-weight:bold;text-decoration:underline}\n"
    ".nc{background:#fff0c0;font-style:italic}\n"
    ".false td{background:#f0f0f0}\n"
    ".mark{font-weight:bold;border:0.3mm solid #000;padding:0 0.8mm}\n"
    ".verdict{border:0.6mm solid #000;padding:2mm;margin:2mm 0;font-size:11pt}\n"
    ".verdict b{font-size:13pt}\n"
    ".muted{color:#444}\n"
    "ul{margin:0;padding-left:4mm}\n"
    ".sign{display:flex;gap:10mm;margin-top:4mm}\n"
    ".sign div{flex:1;text-align:center;min-height:32mm}\n"
    ".sign .line{margin-top:20mm;border-top:0.3mm dotted #000}\n"
    "@media screen{body{padding:8mm}}\n";

struct page {
	FILE *out;
	enum lang lang;
};

static const char *L(const struct page *p, enum label t)
{
	return labels[t][p->lang];
}

static void put(struct page *p, const char *s)
{
	fputs(s, p->out);
}

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if not. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	size_t len, i;
	uint32_t cp;
	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	/* overlong, surrogate or past U+10FFFF */
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* Text from the report, escaped for an element or a quoted attribute.
 * Control characters become spaces, bytes that are not UTF-8 U+FFFD. */
static void esc(struct page *p, const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t n = strlen(s), i = 0;
	while (i < n) {
		size_t len = utf8_len(u + i, n - i);
		if (len == 0) {
			fputs("\xef\xbf\xbd", p->out);
			i++;
			continue;
		}
		if (len > 1) {
			fwrite(u + i, 1, len, p->out);
		} else if (u[i] == '<') {
			fputs("&lt;", p->out);
		} else if (u[i] == '>') {
			fputs("&gt;", p->out);
		} else if (u[i] == '&') {
			fputs("&amp;", p->out);
		} else if (u[i] == '"') {
			fputs("&quot;", p->out);
		} else if (u[i] == '\'') {
			fputs("&#39;", p->out);
		} else if (u[i] < 0x20 || u[i] == 0x7f) {
			fputc(' ', p->out);
		} else {
			fputc(u[i], p->out);
		}
		i += len;
	}
}

/* The member key of obj, or NULL when obj is not an object. */
static const cJSON *get(const cJSON *obj, const char *key)
{
	if (!cJSON_IsObject(obj))
		return NULL;
	return cJSON_GetObjectItemCaseSensitive(obj, key);
}

/* The member's string, or NULL when it is missing or not a string. */
static const char *str(const cJSON *obj, const char *key)
{
	const cJSON *v = get(obj, key);
	return cJSON_IsString(v) && v->valuestring ? v->valuestring : NULL;
}

/* The member's number (finite), 0 when it is not one. */
static int num(const cJSON *obj, const char *key, double *out)
{
	const cJSON *v = get(obj, key);
	if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
		return 0;
	*out = v->valuedouble;
	return 1;
}

static void put_number(struct page *p, double d)
{
	if (d == floor(d) && fabs(d) < 1e15)
		fprintf(p->out, "%.0f", d);
	else
		fprintf(p->out, "%.2f", d);
}

/* A member as text: a string escaped, a number, a boolean, else "—". */
static void field(struct page *p, const cJSON *obj, const char *key)
{
	const cJSON *v = get(obj, key);
	if (cJSON_IsString(v) && v->valuestring && v->valuestring[0])
		esc(p, v->valuestring);
	else if (cJSON_IsNumber(v) && isfinite(v->valuedouble))
		put_number(p, v->valuedouble);
	else if (cJSON_IsBool(v))
		put(p, cJSON_IsTrue(v) ? "true" : "false");
	else
		put(p, DASH);
}

static void td(struct page *p, const cJSON *obj, const char *key)
{
	put(p, "<td>");
	field(p, obj, key);
	put(p, "</td>");
}

/* A duration in seconds as h:mm:ss (or m:ss), "—" when missing. */
static void duration(struct page *p, const cJSON *obj, const char *key)
{
	double d;
	long long s, h;
	if (!num(obj, key, &d) || d < 0 || d > 1e12) {
		put(p, DASH);
		return;
	}
	s = (long long)llround(d);
	h = s / 3600;
	if (h > 0)
		fprintf(p->out, "%lld:%02lld:%02lld", h, (s / 60) % 60, s % 60);
	else
		fprintf(p->out, "%lld:%02lld", s / 60, s % 60);
}

static void td_duration(struct page *p, const cJSON *obj, const char *key)
{
	put(p, "<td class=\"num\">");
	duration(p, obj, key);
	put(p, "</td>");
}

static void heading(struct page *p, const char *tag, enum label t)
{
	fprintf(p->out, "<%s>%s</%s>\n", tag, L(p, t), tag);
}

static void th_row(struct page *p, const enum label *cols, size_t n)
{
	size_t i;
	put(p, "<thead><tr>");
	for (i = 0; i < n; i++)
		fprintf(p->out, "<th>%s</th>", L(p, cols[i]));
	put(p, "</tr></thead>\n<tbody>\n");
}

/* The array member key when it has at least one element, else NULL (and
 * the section says "None."). */
static const cJSON *rows(struct page *p, const cJSON *obj, const char *key)
{
	const cJSON *a = get(obj, key);
	if (cJSON_IsArray(a) && cJSON_GetArraySize(a) > 0)
		return a;
	fprintf(p->out, "<p class=\"muted\">%s</p>\n", L(p, T_NONE));
	return NULL;
}

/* "Zone name (zone-id)", or whichever of the two there is. */
static void zone_cell(struct page *p, const cJSON *o)
{
	const char *name = str(o, "zone_name"), *id = str(o, "zone");
	put(p, "<td>");
	if (name && name[0]) {
		esc(p, name);
		if (id && id[0]) {
			put(p, " <span class=\"muted\">(");
			esc(p, id);
			put(p, ")</span>");
		}
	} else {
		field(p, o, "zone");
	}
	put(p, "</td>");
}

/* "name by who": a time and who did it, in one cell. */
static void when_who(struct page *p, const cJSON *o, const char *at, const char *by)
{
	put(p, "<td>");
	field(p, o, at);
	if (str(o, by) && str(o, by)[0]) {
		put(p, "<br><span class=\"muted\">");
		esc(p, str(o, by));
		put(p, "</span>");
	}
	put(p, "</td>");
}

enum result { R_PASS, R_FAIL, R_NOT_CHECKED };

static enum result result_of(const char *s)
{
	if (s && strcmp(s, "pass") == 0)
		return R_PASS;
	if (s && strcmp(s, "fail") == 0)
		return R_FAIL;
	return R_NOT_CHECKED; /* missing or unknown: nobody can say it passed */
}

static void td_result(struct page *p, const char *s)
{
	static const char *const cls[] = {"pass", "fail", "nc"};
	static const enum label text[] = {T_R_PASS, T_R_FAIL, T_R_NOT_CHECKED};
	enum result r = result_of(s);
	fprintf(p->out, "<td class=\"%s nowrap\">%s</td>", cls[r], L(p, text[r]));
}

static void header(struct page *p, const cJSON *r)
{
	const cJSON *site = get(r, "site"), *period = get(r, "period");
	const cJSON *sum = get(r, "summary"), *crit = get(r, "criteria"), *c;
	double v[3] = {0, 0, 0};
	int have = 0;
	enum label verdict;

	put(p, "<h1>");
	put(p, L(p, T_TITLE));
	put(p, "</h1>\n<h1>");
	field(p, site, "name");
	put(p, "</h1>\n<table class=\"kv\">\n");
	fprintf(p->out, "<tr><th>%s</th>", L(p, T_ADDRESS));
	td(p, site, "address");
	fprintf(p->out, "</tr>\n<tr><th>%s</th>", L(p, T_SITE_ID));
	td(p, site, "id");
	fprintf(p->out, "</tr>\n<tr><th>%s</th>", L(p, T_PHONE));
	td(p, site, "phone");
	fprintf(p->out, "</tr>\n<tr><th>%s</th><td>", L(p, T_PERIOD));
	field(p, period, "from");
	put(p, " &ndash; ");
	field(p, period, "to");
	fprintf(p->out, "</td></tr>\n<tr><th>%s</th>", L(p, T_GENERATED));
	td(p, r, "generated_at");
	put(p, "</tr>\n</table>\n");

	/* The summary as given; counted from the criteria when it is absent,
	 * so a partial object cannot show a verdict the table contradicts. */
	have =
	    num(sum, "passed", &v[0]) + num(sum, "failed", &v[1]) + num(sum, "not_checked", &v[2]);
	if (have < 3) {
		v[0] = v[1] = v[2] = 0;
		if (cJSON_IsArray(crit))
			cJSON_ArrayForEach(c, crit) v[result_of(str(c, "result"))] += 1;
	}
	if (v[1] > 0)
		verdict = T_VERDICT_FAIL;
	else if (v[2] > 0 || v[0] == 0)
		verdict = T_VERDICT_INCOMPLETE;
	else
		verdict = T_VERDICT_PASS;
	fprintf(p->out, "<div class=\"verdict keep\">%s: <b>%s</b> &nbsp; ", L(p, T_VERDICT),
	        L(p, verdict));
	fprintf(p->out, "(%s: ", L(p, T_PASSED));
	put_number(p, v[0]);
	fprintf(p->out, " &middot; %s: ", L(p, T_FAILED));
	put_number(p, v[1]);
	fprintf(p->out, " &middot; %s: ", L(p, T_NOT_CHECKED));
	put_number(p, v[2]);
	put(p, ")</div>\n");
}

static void criteria(struct page *p, const cJSON *r)
{
	static const enum label cols[] = {T_ID, T_CRITERION, T_KIND, T_RESULT, T_EVIDENCE};
	const cJSON *a, *c, *e, *ev;
	heading(p, "h2", T_CRITERIA);
	if (!(a = rows(p, r, "criteria")))
		return;
	put(p, "<table>\n");
	th_row(p, cols, sizeof(cols) / sizeof(cols[0]));
	cJSON_ArrayForEach(c, a)
	{
		const char *kind = str(c, "kind");
		put(p, "<tr>");
		put(p, "<td class=\"mono nowrap\">");
		field(p, c, "id");
		put(p, "</td>");
		td(p, c, "text");
		if (kind && strcmp(kind, "auto") == 0)
			fprintf(p->out, "<td>%s</td>", L(p, T_AUTO));
		else if (kind && strcmp(kind, "manual") == 0)
			fprintf(p->out, "<td>%s</td>", L(p, T_MANUAL));
		else
			td(p, c, "kind");
		td_result(p, str(c, "result"));
		put(p, "<td>");
		ev = get(c, "evidence");
		if (cJSON_IsArray(ev) && cJSON_GetArraySize(ev) > 0) {
			put(p, "<ul>");
			cJSON_ArrayForEach(e, ev)
			{
				put(p, "<li>");
				if (cJSON_IsString(e) && e->valuestring)
					esc(p, e->valuestring);
				else
					put(p, DASH);
				put(p, "</li>");
			}
			put(p, "</ul>");
		} else {
			put(p, DASH);
		}
		put(p, "</td></tr>\n");
	}
	put(p, "</tbody></table>\n");
}

/* The bar chart of alarms and faults per day: pure SVG computed here. The
 * two series differ in fill AND pattern (solid vs hatched) for a black and
 * white print, and each bar carries its number when the bars are wide. */
static void chart(struct page *p, const cJSON *r)
{
	const double W = 680, H = 200, left = 34, right = 8, top = 18, bottom = 34;
	const cJSON *a = get(r, "per_day"), *d;
	int n, first, i, step;
	double max = 0, slot, bw, ph = H - top - bottom, pw = W - left - right;

	heading(p, "h2", T_CHART);
	if (!(a = rows(p, r, "per_day")))
		return;
	n = cJSON_GetArraySize(a);
	first = n > CHART_MAX_DAYS ? n - CHART_MAX_DAYS : 0;
	n -= first;
	for (i = 0; i < n; i++) {
		double x;
		d = cJSON_GetArrayItem(a, first + i);
		if (num(d, "alarms", &x) && x > max)
			max = x;
		if (num(d, "faults", &x) && x > max)
			max = x;
	}
	max = max < 1 ? 1 : ceil(max);
	slot = pw / n;
	bw = slot * 0.38;
	fprintf(p->out,
	        "<svg class=\"chart\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
	        "role=\"img\" "
	        "font-family=\"DejaVu Sans, sans-serif\" font-size=\"9\">\n",
	        W, H, W, H);
	put(p,
	    "<defs><pattern id=\"hatch\" width=\"4\" height=\"4\" patternUnits=\"userSpaceOnUse\" "
	    "patternTransform=\"rotate(45)\"><rect width=\"4\" height=\"4\" fill=\"#f5c26b\"/>"
	    "<line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"4\" stroke=\"#000\" stroke-width=\"1.2\"/>"
	    "</pattern></defs>\n");
	/* axis and gridlines at 0, max/2, max */
	for (i = 0; i <= 2; i++) {
		double v = max * i / 2, y = top + ph - ph * v / max;
		fprintf(p->out,
		        "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#999\" "
		        "stroke-width=\"0.5\"/><text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">",
		        left, y, W - right, y, left - 3, y + 3);
		put_number(p, floor(v * 10) / 10);
		put(p, "</text>\n");
	}
	step = n <= 16 ? 1 : (n + 15) / 16;
	for (i = 0; i < n; i++) {
		double al = 0, fa = 0, x0 = left + slot * i + slot * 0.1, h;
		const char *day;
		d = cJSON_GetArrayItem(a, first + i);
		num(d, "alarms", &al);
		num(d, "faults", &fa);
		al = al < 0 ? 0 : al;
		fa = fa < 0 ? 0 : fa;
		h = ph * al / max;
		fprintf(
		    p->out,
		    "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"#c0392b\" "
		    "stroke=\"#000\" stroke-width=\"0.4\"/>",
		    x0, top + ph - h, bw, h);
		if (al > 0 && slot >= 18) {
			fprintf(p->out, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\">",
			        x0 + bw / 2, top + ph - h - 2);
			put_number(p, al);
			put(p, "</text>");
		}
		h = ph * fa / max;
		fprintf(p->out,
		        "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" "
		        "fill=\"url(#hatch)\" stroke=\"#000\" stroke-width=\"0.4\"/>",
		        x0 + bw, top + ph - h, bw, h);
		if (fa > 0 && slot >= 18) {
			fprintf(p->out, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\">",
			        x0 + bw * 1.5, top + ph - h - 2);
			put_number(p, fa);
			put(p, "</text>");
		}
		day = str(d, "day");
		if (i % step == 0) {
			size_t len = day ? strlen(day) : 0;
			fprintf(p->out, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\">",
			        x0 + bw, top + ph + 11);
			/* "2026-11-03" shows as "11-03": the year is in the period */
			if (len == 10 && day[4] == '-')
				esc(p, day + 5);
			else if (day)
				esc(p, day);
			put(p, "</text>");
		}
		put(p, "\n");
	}
	fprintf(p->out,
	        "<rect x=\"%.0f\" y=\"%.0f\" width=\"10\" height=\"8\" fill=\"#c0392b\" "
	        "stroke=\"#000\" stroke-width=\"0.4\"/><text x=\"%.0f\" y=\"%.0f\">%s</text>"
	        "<rect x=\"%.0f\" y=\"%.0f\" width=\"10\" height=\"8\" fill=\"url(#hatch)\" "
	        "stroke=\"#000\" stroke-width=\"0.4\"/><text x=\"%.0f\" y=\"%.0f\">%s</text>\n",
	        left, H - 10, left + 14, H - 2.5, L(p, T_ALARMS), left + 120, H - 10, left + 134,
	        H - 2.5, L(p, T_FAULTS));
	put(p, "</svg>\n");
}

static void alarms(struct page *p, const cJSON *r)
{
	static const enum label cols[] = {
	    T_ID,    T_CLASS,       T_ZONE,  T_SENSOR,        T_RAISED,
	    T_ACKED, T_TIME_TO_ACK, T_RESET, T_TIME_TO_RESET, T_NOTE};
	const cJSON *a, *al;
	heading(p, "h2", T_ALARMS);
	if (!(a = rows(p, r, "alarms")))
		return;
	put(p, "<table class=\"small\">\n");
	th_row(p, cols, sizeof(cols) / sizeof(cols[0]));
	cJSON_ArrayForEach(al, a)
	{
		const cJSON *fa = get(al, "false_alarm");
		int is_false = cJSON_IsObject(fa);
		const char *cls = str(al, "class");
		int c = cls ? sh_class_from_name(cls) : -1;
		put(p, is_false ? "<tr class=\"false\">" : "<tr>");
		td(p, al, "id");
		if (c >= 0 && c < ALARM__COUNT)
			fprintf(p->out, "<td>%s</td>", class_labels[c][p->lang]);
		else
			td(p, al, "class");
		zone_cell(p, al);
		td(p, al, "sensor");
		td(p, al, "raised_at");
		when_who(p, al, "acked_at", "acked_by");
		td_duration(p, al, "ack_s");
		when_who(p, al, "reset_at", "reset_by");
		td_duration(p, al, "reset_s");
		put(p, "<td>");
		if (is_false) {
			fprintf(p->out, "<span class=\"mark\">%s</span> ", L(p, T_FALSE_ALARM));
			field(p, fa, "reason");
			put(p, " <span class=\"muted\">(");
			field(p, fa, "by");
			put(p, ", ");
			field(p, fa, "at");
			put(p, ")</span>");
		}
		put(p, "</td></tr>\n");
	}
	put(p, "</tbody></table>\n");
}

static void faults(struct page *p, const cJSON *r)
{
	static const enum label cols[] = {T_RULE, T_SENSOR, T_MESSAGE, T_FROM, T_TO, T_DURATION};
	const cJSON *a, *f;
	heading(p, "h2", T_FAULTS);
	if (!(a = rows(p, r, "faults")))
		return;
	put(p, "<table>\n");
	th_row(p, cols, sizeof(cols) / sizeof(cols[0]));
	cJSON_ArrayForEach(f, a)
	{
		put(p, "<tr>");
		td(p, f, "rule");
		td(p, f, "sensor");
		td(p, f, "message");
		td(p, f, "from");
		td(p, f, "to");
		td_duration(p, f, "duration_s");
		put(p, "</tr>\n");
	}
	put(p, "</tbody></table>\n");
}

static void disablements_and_tests(struct page *p, const cJSON *r)
{
	static const enum label dcols[] = {T_SENSOR, T_BY, T_FROM, T_TO, T_REASON};
	static const enum label wcols[] = {T_SENSOR, T_AT, T_BY};
	const cJSON *a, *d;
	heading(p, "h2", T_DISABLEMENTS);
	if ((a = rows(p, r, "disablements"))) {
		put(p, "<table>\n");
		th_row(p, dcols, sizeof(dcols) / sizeof(dcols[0]));
		cJSON_ArrayForEach(d, a)
		{
			put(p, "<tr>");
			td(p, d, "sensor");
			td(p, d, "by");
			td(p, d, "from");
			td(p, d, "to");
			td(p, d, "reason");
			put(p, "</tr>\n");
		}
		put(p, "</tbody></table>\n");
	}
	heading(p, "h2", T_WALK_TESTS);
	if ((a = rows(p, r, "walk_tests"))) {
		put(p, "<table>\n");
		th_row(p, wcols, sizeof(wcols) / sizeof(wcols[0]));
		cJSON_ArrayForEach(d, a)
		{
			put(p, "<tr>");
			td(p, d, "sensor");
			td(p, d, "at");
			td(p, d, "by");
			put(p, "</tr>\n");
		}
		put(p, "</tbody></table>\n");
	}
}

static void inventory(struct page *p, const cJSON *r)
{
	static const enum label cols[] = {T_FLOOR, T_ZONE, T_KIND, T_SENSORS, T_OUTPUTS};
	const cJSON *a, *z, *s;
	heading(p, "h2", T_INVENTORY);
	if (!(a = rows(p, r, "inventory")))
		return;
	put(p, "<table>\n");
	th_row(p, cols, sizeof(cols) / sizeof(cols[0]));
	cJSON_ArrayForEach(z, a)
	{
		const cJSON *sensors = get(z, "sensors"), *outs = get(z, "outputs");
		put(p, "<tr>");
		td(p, z, "floor");
		zone_cell(p, z);
		td(p, z, "kind");
		put(p, "<td>");
		if (cJSON_IsArray(sensors) && cJSON_GetArraySize(sensors) > 0) {
			put(p, "<ul>");
			cJSON_ArrayForEach(s, sensors)
			{
				const cJSON *on = get(s, "online");
				double b;
				put(p, "<li>");
				field(p, s, "name");
				put(p, " <span class=\"mono\">[");
				field(p, s, "id");
				put(p, "]</span> ");
				field(p, s, "kind");
				if (num(s, "battery", &b)) {
					fprintf(p->out, ", %s ", L(p, T_BATTERY));
					put_number(p, b);
					put(p, "%");
				}
				if (cJSON_IsFalse(on))
					fprintf(p->out, ", <span class=\"mark\">%s</span>",
					        L(p, T_OFFLINE));
				else if (cJSON_IsTrue(on))
					fprintf(p->out, ", %s", L(p, T_ONLINE));
				put(p, "</li>");
			}
			put(p, "</ul>");
		} else {
			put(p, DASH);
		}
		put(p, "</td><td>");
		if (cJSON_IsArray(outs) && cJSON_GetArraySize(outs) > 0) {
			put(p, "<ul>");
			cJSON_ArrayForEach(s, outs)
			{
				put(p, "<li><span class=\"mono\">");
				field(p, s, "id");
				put(p, "</span> ");
				field(p, s, "kind");
				put(p, "</li>");
			}
			put(p, "</ul>");
		} else {
			put(p, DASH);
		}
		put(p, "</td></tr>\n");
	}
	put(p, "</tbody></table>\n");
}

/* One battery's sparkline: the percent over the period, 0..100 on a fixed
 * scale so that two sensors' lines compare at a glance. */
static void sparkline(struct page *p, const cJSON *pts, double *last, double *min, int *have)
{
	const double W = 160, H = 24;
	int n = cJSON_IsArray(pts) ? cJSON_GetArraySize(pts) : 0, first, i;
	*have = 0;
	first = n > SPARK_MAX_POINTS ? n - SPARK_MAX_POINTS : 0;
	fprintf(
	    p->out,
	    "<svg width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\"><rect x=\"0\" "
	    "y=\"0\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" stroke=\"#bbb\" "
	    "stroke-width=\"0.5\"/><polyline fill=\"none\" stroke=\"#000\" stroke-width=\"1.2\" "
	    "points=\"",
	    W, H, W, H, W, H);
	for (i = first; i < n; i++) {
		double v;
		if (!num(cJSON_GetArrayItem(pts, i), "percent", &v))
			continue;
		v = v < 0 ? 0 : v > 100 ? 100 : v;
		if (!*have || v < *min)
			*min = v;
		*last = v;
		*have = 1;
		fprintf(p->out, "%.1f,%.1f ",
		        n - first > 1 ? 2 + (W - 4) * (i - first) / (n - first - 1) : W / 2,
		        H - 2 - (H - 4) * v / 100);
	}
	put(p, "\"/></svg>");
}

static void batteries(struct page *p, const cJSON *r)
{
	static const enum label cols[] = {T_SENSOR, T_TREND, T_LAST, T_MIN};
	const cJSON *a, *b;
	heading(p, "h2", T_BATTERIES);
	if (!(a = rows(p, r, "batteries")))
		return;
	put(p, "<table>\n");
	th_row(p, cols, sizeof(cols) / sizeof(cols[0]));
	cJSON_ArrayForEach(b, a)
	{
		double last = 0, min = 0;
		int have;
		put(p, "<tr>");
		td(p, b, "sensor");
		put(p, "<td>");
		sparkline(p, get(b, "points"), &last, &min, &have);
		put(p, "</td><td class=\"num\">");
		if (have) {
			put_number(p, last);
			put(p, "%</td><td class=\"num\">");
			put_number(p, min);
			put(p, "%</td>");
		} else {
			put(p, DASH "</td><td class=\"num\">" DASH "</td>");
		}
		put(p, "</tr>\n");
	}
	put(p, "</tbody></table>\n");
}

static void links(struct page *p, const cJSON *r)
{
	const cJSON *up = get(r, "upstream"), *ob = get(r, "outbox");
	double a;
	heading(p, "h2", T_LINKS);
	put(p, "<table class=\"kv keep\">\n");
	fprintf(p->out, "<tr><th>%s</th><td class=\"num\">", L(p, T_UPSTREAM_AVAIL));
	/* availability is a percent (docs/compliance.md): a link up 0.5 % of
	 * the time must not read as 50 % */
	if (num(up, "availability", &a) && a >= 0 && a <= 100)
		fprintf(p->out, "%.2f%%", a);
	else
		put(p, DASH);
	fprintf(p->out, "</td></tr>\n<tr><th>%s</th>", L(p, T_UPSTREAM_DOWN));
	td_duration(p, up, "down_s");
	fprintf(p->out, "</tr>\n<tr><th>%s</th>", L(p, T_OUTBOX_DELIVERED));
	td(p, ob, "delivered");
	fprintf(p->out, "</tr>\n<tr><th>%s</th>", L(p, T_OUTBOX_PENDING));
	td(p, ob, "pending");
	fprintf(p->out, "</tr>\n<tr><th>%s</th>", L(p, T_OUTBOX_FAILED));
	td(p, ob, "failed");
	fprintf(p->out, "</tr>\n<tr><th>%s</th>", L(p, T_OUTBOX_OLDEST));
	td_duration(p, ob, "oldest_pending_s");
	put(p, "</tr>\n</table>\n");
}

static void inspection(struct page *p, const cJSON *r)
{
	static const enum label cols[] = {T_CRITERION, T_RESULT, T_NOTE, T_AT, T_BY};
	const cJSON *in = get(r, "inspection"), *a, *x;
	heading(p, "h2", T_INSPECTION);
	if (!cJSON_IsObject(in)) {
		fprintf(p->out, "<p>%s</p>\n", L(p, T_NO_INSPECTION));
	} else {
		put(p, "<table class=\"kv keep\">\n");
		fprintf(p->out, "<tr><th>%s</th>", L(p, T_INSPECTOR));
		td(p, in, "by");
		fprintf(p->out, "</tr>\n<tr><th>%s</th>", L(p, T_STARTED));
		td(p, in, "started_at");
		fprintf(p->out, "</tr>\n<tr><th>%s</th>", L(p, T_FINISHED));
		td(p, in, "finished_at");
		put(p, "</tr>\n</table>\n");
		if ((a = rows(p, in, "results"))) {
			put(p, "<table>\n");
			th_row(p, cols, sizeof(cols) / sizeof(cols[0]));
			cJSON_ArrayForEach(x, a)
			{
				put(p, "<tr><td class=\"mono\">");
				field(p, x, "criterion");
				put(p, "</td>");
				td_result(p, str(x, "result"));
				td(p, x, "note");
				td(p, x, "at");
				td(p, x, "by");
				put(p, "</tr>\n");
			}
			put(p, "</tbody></table>\n");
		}
	}
}

static void log_check(struct page *p, const cJSON *r)
{
	const cJSON *lg = get(r, "log"), *v = get(lg, "verified"), *head = get(lg, "head");
	heading(p, "h2", T_LOG);
	put(p, "<table class=\"kv keep\">\n");
	fprintf(p->out, "<tr><th>%s</th>", L(p, T_LOG_VERIFIED));
	if (cJSON_IsTrue(v))
		fprintf(p->out, "<td class=\"pass\">%s</td>", L(p, T_LOG_OK));
	else if (cJSON_IsFalse(v))
		fprintf(p->out, "<td class=\"fail\">%s</td>", L(p, T_LOG_BROKEN));
	else
		fprintf(p->out, "<td class=\"nc\">%s</td>", L(p, T_LOG_UNKNOWN));
	fprintf(p->out, "</tr>\n<tr><th>%s: %s</th><td class=\"mono\">", L(p, T_LOG_HEAD),
	        L(p, T_LOG_ROW));
	field(p, head, "row");
	fprintf(p->out, "</td></tr>\n<tr><th>%s: %s</th><td class=\"mono\">", L(p, T_LOG_HEAD),
	        L(p, T_LOG_HASH));
	field(p, head, "hash");
	fprintf(p->out, "</td></tr>\n</table>\n<p class=\"muted\">%s</p>\n", L(p, T_LOG_HINT));
}

static void signatures(struct page *p)
{
	heading(p, "h2", T_SIGNATURES);
	fprintf(p->out, "<div class=\"sign keep\">\n");
	fprintf(
	    p->out,
	    "<div><b>%s</b><br><span class=\"muted\">%s</span><div class=\"line\"></div></div>\n",
	    L(p, T_SIGN_INSPECTOR), L(p, T_SIGN_HINT));
	fprintf(
	    p->out,
	    "<div><b>%s</b><br><span class=\"muted\">%s</span><div class=\"line\"></div></div>\n",
	    L(p, T_SIGN_OWNER), L(p, T_SIGN_HINT));
	put(p, "</div>\n");
}

int report_html(const struct cJSON *report, FILE *out)
{
	struct page pg = {.out = out, .lang = L_VI};
	struct page *p = &pg;
	const cJSON *r = report;
	const char *lang;

	if (!out || !cJSON_IsObject(r))
		return -1;
	lang = str(r, "language");
	if (lang && strcmp(lang, "en") == 0)
		pg.lang = L_EN;

	fprintf(out, "<!DOCTYPE html>\n<html lang=\"%s\">\n<head>\n<meta charset=\"utf-8\">\n",
	        pg.lang == L_EN ? "en" : "vi");
	put(p, "<title>");
	put(p, L(p, T_TITLE));
	put(p, " &ndash; ");
	field(p, get(r, "site"), "name");
	put(p, "</title>\n<style>\n");
	put(p, css);
	put(p, "</style>\n</head>\n<body>\n");

	header(p, r);
	criteria(p, r);
	chart(p, r);
	alarms(p, r);
	faults(p, r);
	disablements_and_tests(p, r);
	inventory(p, r);
	batteries(p, r);
	links(p, r);
	inspection(p, r);
	log_check(p, r);
	signatures(p);

	put(p, "</body>\n</html>\n");
	if (fflush(out) != 0 || ferror(out))
		return -1;
	return 0;
}
