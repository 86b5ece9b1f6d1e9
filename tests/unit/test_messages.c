/*
 * test_messages.c: the catalogue's texts in both languages, the alert text
 * for a channel, and SMS parts counted as the modem sends them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "gateway/config.h"
#include "gateway/messages.h"

static const struct messages_alert fire = {
    .cls = ALARM_FIRE,
    .room = "Phòng 101",
    .house = "Nhà trọ Minh Sơn",
    .address = "Số 12, hẻm 34 đường Lê Lợi, phường Minh Sơn",
    .device = "Báo khói 101",
    .detail = "Phát hiện khói tại Phòng 101",
    .phone = "0909000111",
};

static struct config *site(int language)
{
	static struct config c;
	memset(&c, 0, sizeof(c));
	c.site.language = language;
	return &c;
}

static void test_full_text_says_what_where_which_house_and_whom_to_call(void **state)
{
	char buf[512];
	(void)state;
	assert_true(messages_alert_text(site(LANG_VI), &fire, 0, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "BÁO CHÁY: Phòng 101 - Nhà trọ Minh Sơn, Số 12, hẻm 34 đường Lê "
	                         "Lợi, phường Minh Sơn. Thiết bị: Báo khói 101. Phát hiện khói tại "
	                         "Phòng 101. ĐT: 0909000111");
}

static void test_english_site_gets_english_labels(void **state)
{
	char buf[512];
	(void)state;
	assert_true(messages_alert_text(site(LANG_EN), &fire, 0, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, "FIRE ALARM: Phòng 101 - Nhà trọ Minh Sơn"));
	assert_non_null(strstr(buf, "Device: Báo khói 101"));
	assert_non_null(strstr(buf, "Tel: 0909000111"));
	assert_string_equal(messages_get(site(LANG_EN), MSG_FAULT_UPSTREAM),
	                    "Link to the militia's centre lost");
	assert_string_equal(messages_get(NULL, MSG_FAULT_UPSTREAM),
	                    "Mất kết nối tới trung tâm (dân quân)");
	assert_string_equal(messages_class_label(site(LANG_VI), ALARM_GAS), "RÒ RỈ KHÍ GAS");
}

static void test_every_message_has_both_languages(void **state)
{
	(void)state;
	for (int id = 0; id < MSG__COUNT; id++)
		for (int l = 0; l < LANG__COUNT; l++) {
			const char *s = messages_in(l, (enum messages_id)id);
			assert_non_null(s);
			assert_true(s[0] != '\0');
		}
}

static void test_sms_parts_are_counted_as_the_modem_sends_them(void **state)
{
	char s[400];
	(void)state;
	assert_int_equal(messages_sms_parts(""), 1);
	memset(s, 'a', 160);
	s[160] = '\0';
	assert_int_equal(messages_sms_parts(s), 1); /* GSM-7: 160 in one */
	s[160] = 'a';
	s[161] = '\0';
	assert_int_equal(messages_sms_parts(s), 2); /* then 153 per part */
	memset(s, 'a', 306);
	s[306] = '\0';
	assert_int_equal(messages_sms_parts(s), 2);
	s[306] = 'a';
	s[307] = '\0';
	assert_int_equal(messages_sms_parts(s), 3);
	/* one diacritic makes it UCS-2: 70 in one, 67 per part */
	memset(s, 'a', 69);
	strcpy(s + 69, "ơ");
	assert_int_equal(messages_sms_parts(s), 1);
	strcpy(s + 69, "ơa");
	assert_int_equal(messages_sms_parts(s), 2);
	/* é is in the GSM basic set; { is only in its extension table */
	assert_int_equal(messages_sms_parts("café"), 1);
	memset(s, 'a', 100);
	strcpy(s + 100, "{");
	assert_int_equal(messages_sms_parts(s), 2);
	/* outside the BMP: two UTF-16 units */
	memset(s, 'a', 69);
	strcpy(s + 69, "\xF0\x9F\x94\xA5");
	assert_int_equal(messages_sms_parts(s), 2);
}

static void test_sms_drops_the_address_before_the_room_and_never_the_class(void **state)
{
	char full[512], sms[512];
	int parts;
	(void)state;
	messages_alert_text(site(LANG_VI), &fire, 0, full, sizeof(full));
	assert_true(messages_sms_parts(full) > 1);
	parts = messages_alert_text(site(LANG_VI), &fire, 1, sms, sizeof(sms));
	assert_int_equal(parts, 1);
	assert_int_equal(messages_sms_parts(sms), 1);
	assert_non_null(strstr(sms, "BÁO CHÁY"));
	assert_non_null(strstr(sms, "Nhà trọ Minh Sơn"));
	assert_non_null(strstr(sms, "Phòng 101")); /* the room stayed ... */
	assert_null(strstr(sms, "Lê Lợi"));        /* ... the address went */
	assert_null(strstr(sms, "Thiết bị"));
}

static void test_sms_keeps_the_class_when_even_the_room_must_go(void **state)
{
	struct messages_alert a = fire;
	char sms[512];
	(void)state;
	a.room = "Phòng ngủ tầng ba phía sau, cạnh cầu thang thoát hiểm";
	assert_int_equal(messages_alert_text(site(LANG_VI), &a, 1, sms, sizeof(sms)), 1);
	assert_string_equal(sms, "BÁO CHÁY: Nhà trọ Minh Sơn.");
}

static void test_sms_that_fits_loses_nothing(void **state)
{
	struct messages_alert a = {
	    .cls = ALARM_FIRE, .room = "Room 1", .house = "Hoa", .phone = "1"};
	char sms[256];
	(void)state;
	assert_int_equal(messages_alert_text(site(LANG_EN), &a, 1, sms, sizeof(sms)), 1);
	assert_string_equal(sms, "FIRE ALARM: Room 1 - Hoa. Tel: 1");
}

static void test_too_small_buffer_is_an_error_cut_at_a_character(void **state)
{
	char buf[9];
	(void)state;
	assert_int_equal(messages_alert_text(site(LANG_VI), &fire, 1, buf, sizeof(buf)), -1);
	assert_string_equal(buf, "BÁO CH"); /* 8 bytes would end inside "Á" */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_full_text_says_what_where_which_house_and_whom_to_call),
	    cmocka_unit_test(test_english_site_gets_english_labels),
	    cmocka_unit_test(test_every_message_has_both_languages),
	    cmocka_unit_test(test_sms_parts_are_counted_as_the_modem_sends_them),
	    cmocka_unit_test(test_sms_drops_the_address_before_the_room_and_never_the_class),
	    cmocka_unit_test(test_sms_keeps_the_class_when_even_the_room_must_go),
	    cmocka_unit_test(test_sms_that_fits_loses_nothing),
	    cmocka_unit_test(test_too_small_buffer_is_an_error_cut_at_a_character),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
