/*
 * test_modbus_point.c: Modbus raw registers and bits to readings, alone.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <modbus/modbus.h>
#include <string.h>

#include "sensors/modbus_point.h"

static struct mbp_format reg(enum mb_type t)
{
	return (struct mbp_format){
	    .table = MB_HOLDING_REG, .bit = -1, .type = t, .scale = 1, .point = POINT_TEMPERATURE};
}

static double dec(const struct mbp_format *f, const uint16_t *regs, int n)
{
	double v = NAN;
	assert_int_equal(mbp_decode(f, NULL, regs, n, &v), 0);
	return v;
}

static void test_16_bit_types(void **state)
{
	uint16_t r[] = {0xFFFE};
	struct mbp_format u = reg(MBT_U16), s = reg(MBT_S16), b = reg(MBT_BOOL);
	(void)state;
	assert_true(dec(&u, r, 1) == 65534);
	assert_true(dec(&s, r, 1) == -2);
	assert_true(dec(&b, r, 1) == 1);
	r[0] = 0;
	assert_true(dec(&b, r, 1) == 0);
	assert_int_equal(mbp_width(&u), 1);
}

static void test_32_bit_types_in_both_word_orders(void **state)
{
	uint16_t big[] = {0x0001, 0x0002}, little[] = {0x0002, 0x0001};
	uint16_t neg_big[] = {0xFFFF, 0xFFFE}, neg_little[] = {0xFFFE, 0xFFFF};
	struct mbp_format u = reg(MBT_U32), s = reg(MBT_S32);
	(void)state;
	assert_true(dec(&u, big, 2) == 65538);
	assert_true(dec(&s, neg_big, 2) == -2);
	u.word_little = s.word_little = 1;
	assert_true(dec(&u, little, 2) == 65538);
	assert_true(dec(&s, neg_little, 2) == -2);
	assert_int_equal(mbp_width(&u), 2);
}

/* libmodbus's getters are the reference (what the bus code used before);
 * its setters are not: 3.1.6's modbus_set_float_abcd swaps bytes. */
static void test_f32_matches_libmodbus_in_both_word_orders(void **state)
{
	uint16_t abcd[] = {0x4266, 0x0000}, cdab[] = {0x0000, 0xC144}; /* 57.5, -12.25 */
	struct mbp_format f = reg(MBT_F32);
	(void)state;
	assert_true(dec(&f, abcd, 2) == 57.5);
	assert_true(dec(&f, abcd, 2) == modbus_get_float_abcd(abcd));
	f.word_little = 1;
	assert_true(dec(&f, cdab, 2) == -12.25);
	assert_true(dec(&f, cdab, 2) == modbus_get_float_cdab(cdab));
	/* 1.5 is 0x3FC00000: high word first, or low word first. */
	f.word_little = 0;
	assert_true(dec(&f, (uint16_t[]){0x3FC0, 0x0000}, 2) == 1.5);
	f.word_little = 1;
	assert_true(dec(&f, (uint16_t[]){0x0000, 0x3FC0}, 2) == 1.5);
}

static void test_nan_and_infinite_floats_are_no_reading(void **state)
{
	struct mbp_format f = reg(MBT_F32);
	double v = 7;
	(void)state;
	assert_int_equal(mbp_decode(&f, NULL, (uint16_t[]){0x7FC0, 0}, 2, &v), -1);
	assert_int_equal(mbp_decode(&f, NULL, (uint16_t[]){0x7F80, 0}, 2, &v), -1);
	assert_true(v == 7); /* untouched */
}

static void test_scale_and_offset_apply_to_numbers(void **state)
{
	struct mbp_format f = reg(MBT_S16);
	(void)state;
	f.scale = 0.1;
	f.offset = -40;
	assert_true(fabs(dec(&f, (uint16_t[]){655}, 1) - 25.5) < 1e-9);
	assert_true(fabs(dec(&f, (uint16_t[]){(uint16_t)-100}, 1) - -50) < 1e-9);
}

static void test_bits_of_a_register_and_invert(void **state)
{
	struct mbp_format f = reg(MBT_BOOL);
	uint16_t r[] = {0x8004}; /* bits 2 and 15 */
	(void)state;
	f.bit = 2;
	assert_true(dec(&f, r, 1) == 1);
	f.bit = 3;
	assert_true(dec(&f, r, 1) == 0);
	f.bit = 15;
	assert_true(dec(&f, r, 1) == 1);
	f.invert = 1;
	assert_true(dec(&f, r, 1) == 0);
	f.scale = 10; /* a bool is never scaled */
	f.bit = 0;
	assert_true(dec(&f, r, 1) == 1);
	assert_int_equal(mbp_width(&f), 1);
}

static void test_discrete_inputs_and_coils_with_invert(void **state)
{
	uint8_t bits[] = {1, 0};
	struct mbp_format f = {.table = MB_DISCRETE, .bit = -1, .type = MBT_BOOL, .scale = 1};
	double v;
	(void)state;
	assert_int_equal(mbp_decode(&f, bits, NULL, 2, &v), 0);
	assert_true(v == 1);
	assert_int_equal(mbp_decode(&f, bits + 1, NULL, 1, &v), 0);
	assert_true(v == 0);
	f.table = MB_COIL;
	f.invert = 1;
	assert_int_equal(mbp_decode(&f, bits, NULL, 2, &v), 0);
	assert_true(v == 0);
	assert_true(mbp_table_is_bits(MB_COIL) && mbp_table_is_bits(MB_DISCRETE));
	assert_false(mbp_table_is_bits(MB_INPUT_REG) || mbp_table_is_bits(MB_HOLDING_REG));
}

static void test_out_of_range_is_refused(void **state)
{
	struct mbp_format f = reg(MBT_U32);
	uint16_t r[] = {1, 2};
	double v = 7;
	(void)state;
	/* A 32-bit value with one register left in the reply. */
	assert_int_equal(mbp_decode(&f, NULL, r, 1, &v), -1);
	assert_int_equal(mbp_decode(&f, NULL, r, 0, &v), -1);
	f = reg(MBT_BOOL);
	f.bit = 16;
	assert_int_equal(mbp_decode(&f, NULL, r, 1, &v), -1);
	f = reg((enum mb_type)99);
	assert_int_equal(mbp_decode(&f, NULL, r, 1, &v), -1);
	f = reg(MBT_U16);
	f.table = (enum mb_table)9;
	assert_int_equal(mbp_decode(&f, NULL, r, 1, &v), -1);
	assert_true(v == 7);
}

static void test_default_types_reading_points_and_coil_values(void **state)
{
	struct mbp_format b = reg(MBT_BOOL), n = reg(MBT_U16);
	(void)state;
	assert_int_equal(mbp_default_type(MB_DISCRETE, -1), MBT_BOOL);
	assert_int_equal(mbp_default_type(MB_COIL, -1), MBT_BOOL);
	assert_int_equal(mbp_default_type(MB_HOLDING_REG, 4), MBT_BOOL);
	assert_int_equal(mbp_default_type(MB_INPUT_REG, -1), MBT_U16);
	assert_int_equal(mbp_reading_point(&b, KIND_SMOKE), POINT_SMOKE);
	assert_int_equal(mbp_reading_point(&b, KIND_DOOR), POINT_CONTACT);
	n.point = POINT_BATTERY;
	assert_int_equal(mbp_reading_point(&n, KIND_HEAT), POINT_BATTERY);
	assert_int_equal(mbp_coil_value(1), 1);
	assert_int_equal(mbp_coil_value(7), 1);
	assert_int_equal(mbp_coil_value(0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_16_bit_types),
	    cmocka_unit_test(test_32_bit_types_in_both_word_orders),
	    cmocka_unit_test(test_f32_matches_libmodbus_in_both_word_orders),
	    cmocka_unit_test(test_nan_and_infinite_floats_are_no_reading),
	    cmocka_unit_test(test_scale_and_offset_apply_to_numbers),
	    cmocka_unit_test(test_bits_of_a_register_and_invert),
	    cmocka_unit_test(test_discrete_inputs_and_coils_with_invert),
	    cmocka_unit_test(test_out_of_range_is_refused),
	    cmocka_unit_test(test_default_types_reading_points_and_coil_values),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
