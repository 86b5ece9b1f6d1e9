/*
 * test_report_html.c: the HTML compliance report: everything from the
 * object is escaped, a partial or wrongly typed object still renders, the
 * page loads nothing from outside, and the labels follow "language".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "gateway/report_html.h"

#define SAMPLE "tests/fixtures/report-sample.json"

/* The page of a JSON text; fails the test when report_html() refuses. */
static char *render_json(const char *json)
{
	cJSON *r = cJSON_Parse(json);
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	assert_non_null(r);
	f = open_memstream(&buf, &len);
	assert_non_null(f);
	assert_int_equal(report_html(r, f), 0);
	fclose(f);
	cJSON_Delete(r);
	return buf;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = calloc(1, (size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	return buf;
}

static char *render_sample(const char *language)
{
	char *text = slurp(SAMPLE), *html, *json;
	cJSON *r = cJSON_Parse(text);
	assert_non_null(r);
	if (language)
		cJSON_ReplaceItemInObjectCaseSensitive(r, "language", cJSON_CreateString(language));
	json = cJSON_PrintUnformatted(r);
	html = render_json(json);
	free(json);
	cJSON_Delete(r);
	free(text);
	return html;
}

static void assert_complete_page(const char *html)
{
	assert_non_null(strstr(html, "<!DOCTYPE html>"));
	assert_non_null(strstr(html, "</html>\n"));
}

static void test_script_in_names_is_shown_as_text(void **state)
{
	char *html;
	(void)state;
	html = render_json(
	    "{\"site\":{\"name\":\"A&B <u>\\\"x\\\"</u>\"},"
	    "\"inventory\":[{\"zone\":\"z\",\"zone_name\":\"<script>alert(1)</script>\","
	    "\"sensors\":[{\"id\":\"s'1\",\"name\":\"<img src=x onerror=alert(2)>\"}]}],"
	    "\"alarms\":[{\"id\":1,\"zone_name\":\"<script>alert(3)</script>\","
	    "\"false_alarm\":{\"reason\":\"</td><script>\"}}],"
	    "\"per_day\":[{\"day\":\"<script>\",\"alarms\":1,\"faults\":0}]}");
	assert_complete_page(html);
	assert_null(strstr(html, "<script"));
	assert_null(strstr(html, "<img"));
	assert_null(strstr(html, "<u>"));
	assert_non_null(strstr(html, "&lt;script&gt;alert(1)&lt;/script&gt;"));
	assert_non_null(strstr(html, "&lt;img src=x onerror=alert(2)&gt;"));
	assert_non_null(strstr(html, "A&amp;B &lt;u&gt;&quot;x&quot;&lt;/u&gt;"));
	assert_non_null(strstr(html, "s&#39;1"));
	free(html);
}

static void test_empty_report_renders_every_section_with_dashes(void **state)
{
	char *html;
	(void)state;
	html = render_json("{}");
	assert_complete_page(html);
	assert_non_null(strstr(html, "Tiêu chí kiểm tra"));
	assert_non_null(strstr(html, "Nhật ký sự kiện"));
	assert_non_null(strstr(html, "Chủ cơ sở")); /* the signature lines */
	assert_non_null(strstr(html, "\xe2\x80\x94"));
	assert_non_null(strstr(html, "Không có."));
	/* no criteria at all is not a pass */
	assert_non_null(strstr(html, "CHƯA KIỂM TRA ĐỦ"));
	free(html);
}

static void test_wrong_types_everywhere_still_render(void **state)
{
	char *html;
	(void)state;
	html = render_json(
	    "{\"site\":[1,2],\"period\":\"x\",\"generated_at\":5,\"language\":7,"
	    "\"inventory\":[null,3,{\"sensors\":\"no\",\"outputs\":[1,null]}],"
	    "\"criteria\":[{\"id\":null,\"result\":42,\"evidence\":[null,1,\"ok\"]},\"c\"],"
	    "\"summary\":{\"passed\":\"many\"},"
	    "\"alarms\":[null,{\"class\":\"volcano\",\"ack_s\":-5,\"reset_s\":1e300,"
	    "\"false_alarm\":\"yes\"}],"
	    "\"faults\":{},\"disablements\":[[]],\"walk_tests\":[{}],"
	    "\"batteries\":[{\"sensor\":\"b\",\"points\":[{\"percent\":\"x\"},{\"percent\":150},"
	    "{\"percent\":-3}]},{\"points\":7}],"
	    "\"upstream\":{\"availability\":\"high\"},\"outbox\":null,"
	    "\"per_day\":[{\"day\":1,\"alarms\":-3,\"faults\":\"two\"},null],"
	    "\"inspection\":{\"results\":[5]},\"log\":{\"verified\":\"yes\",\"head\":\"abc\"}}");
	assert_complete_page(html);
	assert_non_null(strstr(html, "volcano")); /* an unknown class as given */
	assert_non_null(strstr(html, "100%"));    /* a battery above 100 is clamped */
	free(html);
}

static void test_refuses_what_is_not_an_object(void **state)
{
	cJSON *a = cJSON_CreateArray();
	FILE *f = fopen("/dev/null", "w");
	(void)state;
	assert_int_equal(report_html(NULL, f), -1);
	assert_int_equal(report_html(a, f), -1);
	assert_int_equal(report_html(a, NULL), -1);
	fclose(f);
	cJSON_Delete(a);
}

static void test_bytes_that_are_not_utf8_become_replacement_characters(void **state)
{
	char *html;
	(void)state;
	html = render_json("{\"site\":{\"name\":\"Nh\\u00e0 \\u0001tr\xff\xc3\"}}");
	assert_non_null(strstr(html, "Nhà  tr\xef\xbf\xbd\xef\xbf\xbd"));
	free(html);
}

static void test_sample_loads_nothing_from_outside(void **state)
{
	char *html;
	(void)state;
	html = render_sample(NULL);
	assert_complete_page(html);
	assert_null(strstr(html, "<script"));
	assert_null(strstr(html, "<link"));
	assert_null(strstr(html, "http"));
	assert_null(strstr(html, "src="));
	assert_null(strstr(html, "href="));
	assert_null(strstr(html, "@import"));
	assert_null(strstr(html, "url(http"));
	/* the chart and the sparklines are inline SVG */
	assert_non_null(strstr(html, "<svg class=\"chart\""));
	assert_non_null(strstr(html, "<polyline"));
	assert_non_null(strstr(html, "@page{size:A4"));
	free(html);
}

static void test_sample_shows_results_in_words_and_marks_false_alarms(void **state)
{
	char *html;
	(void)state;
	html = render_sample(NULL);
	assert_non_null(strstr(html, "Nhà trọ Minh Sơn"));
	assert_non_null(strstr(html, "KHÔNG ĐẠT")); /* 2 criteria failed */
	assert_non_null(strstr(html, "<td class=\"fail nowrap\">\xe2\x9c\x98 Không đạt</td>"));
	assert_non_null(strstr(html, "<td class=\"nc nowrap\">? Chưa kiểm tra</td>"));
	assert_non_null(strstr(html, "<span class=\"mark\">BÁO ĐỘNG GIẢ</span> Khói do nấu ăn"));
	assert_non_null(strstr(html, "<td>Báo cháy</td>"));
	assert_non_null(strstr(html, "0:42")); /* alarm 105 acknowledged in 42 s */
	assert_non_null(strstr(html, "99.68%"));
	assert_non_null(
	    strstr(html, "9f2c4e7a1b3d5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8"));
	free(html);
}

static void test_language_en_switches_the_labels_not_the_names(void **state)
{
	char *vi, *en;
	(void)state;
	vi = render_sample("vi");
	en = render_sample("en");
	assert_non_null(strstr(vi, "<html lang=\"vi\">"));
	assert_non_null(strstr(en, "<html lang=\"en\">"));
	assert_non_null(strstr(en, "Fire safety compliance report"));
	assert_non_null(strstr(en, "<td>Fire</td>"));
	assert_non_null(strstr(en, "FALSE ALARM"));
	assert_null(strstr(en, "Tiêu chí kiểm tra"));
	assert_null(strstr(en, "Báo cháy"));
	assert_non_null(strstr(en, "Nhà trọ Minh Sơn")); /* names stay as written */
	assert_non_null(strstr(vi, "Báo cáo kiểm tra an toàn phòng cháy"));
	assert_null(strstr(vi, "Fire safety compliance report"));
	free(vi);
	free(en);
}

static void test_verdict_is_counted_from_criteria_without_a_summary(void **state)
{
	char *html;
	(void)state;
	html = render_json("{\"criteria\":[{\"id\":\"a\",\"result\":\"pass\"},"
	                   "{\"id\":\"b\",\"result\":\"pass\"}]}");
	assert_non_null(strstr(html, "<b>ĐẠT</b>"));
	free(html);
	html = render_json("{\"criteria\":[{\"id\":\"a\",\"result\":\"pass\"},"
	                   "{\"id\":\"b\",\"result\":\"maybe\"}]}");
	assert_non_null(strstr(html, "<b>CHƯA KIỂM TRA ĐỦ</b>"));
	free(html);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_script_in_names_is_shown_as_text),
	    cmocka_unit_test(test_empty_report_renders_every_section_with_dashes),
	    cmocka_unit_test(test_wrong_types_everywhere_still_render),
	    cmocka_unit_test(test_refuses_what_is_not_an_object),
	    cmocka_unit_test(test_bytes_that_are_not_utf8_become_replacement_characters),
	    cmocka_unit_test(test_sample_loads_nothing_from_outside),
	    cmocka_unit_test(test_sample_shows_results_in_words_and_marks_false_alarms),
	    cmocka_unit_test(test_language_en_switches_the_labels_not_the_names),
	    cmocka_unit_test(test_verdict_is_counted_from_criteria_without_a_summary),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
