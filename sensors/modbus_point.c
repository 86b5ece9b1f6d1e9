/*
 * modbus_point.c: Modbus raw data to readings.
 */
#include "modbus_point.h"

#include <math.h>
#include <string.h>

int mbp_table_is_bits(enum mb_table t)
{
	return t == MB_DISCRETE || t == MB_COIL;
}

enum mb_type mbp_default_type(enum mb_table t, int bit)
{
	return mbp_table_is_bits(t) || bit >= 0 ? MBT_BOOL : MBT_U16;
}

static int is_32(enum mb_type t)
{
	return t == MBT_U32 || t == MBT_S32 || t == MBT_F32;
}

int mbp_width(const struct mbp_format *f)
{
	if (mbp_table_is_bits(f->table) || f->bit >= 0)
		return 1;
	return is_32(f->type) ? 2 : 1;
}

static uint32_t word32(const uint16_t *r, int little)
{
	return little ? ((uint32_t)r[1] << 16) | r[0] : ((uint32_t)r[0] << 16) | r[1];
}

/* ABCD (high word first) is the Modbus norm; CDAB (low word first) is the
 * "little" word order of many meters. Either way the 32 bits are an IEEE
 * 754 single, as libmodbus's modbus_get_float_abcd/cdab read them. */
static double float32(uint32_t u)
{
	float f;
	memcpy(&f, &u, sizeof(f));
	return f;
}

int mbp_decode(const struct mbp_format *f, const uint8_t *bits, const uint16_t *regs, int avail,
               double *out)
{
	double v;
	if (avail < mbp_width(f))
		return -1;
	if (mbp_table_is_bits(f->table)) {
		v = bits[0] != 0;
	} else if (f->table != MB_INPUT_REG && f->table != MB_HOLDING_REG) {
		return -1;
	} else if (f->bit >= 0) {
		if (f->bit > 15)
			return -1;
		v = (regs[0] >> f->bit) & 1;
	} else {
		switch (f->type) {
		case MBT_BOOL:
			v = regs[0] != 0;
			break;
		case MBT_U16:
			v = regs[0];
			break;
		case MBT_S16:
			v = (int16_t)regs[0];
			break;
		case MBT_U32:
			v = word32(regs, f->word_little);
			break;
		case MBT_S32:
			v = (int32_t)word32(regs, f->word_little);
			break;
		case MBT_F32:
			v = float32(word32(regs, f->word_little));
			break;
		default:
			return -1;
		}
	}
	if (!isfinite(v))
		return -1;
	if (f->type == MBT_BOOL) {
		if (f->invert)
			v = !v;
	} else {
		v = v * f->scale + f->offset;
	}
	*out = v;
	return 0;
}

enum sh_point mbp_reading_point(const struct mbp_format *f, enum sh_kind kind)
{
	return f->type == MBT_BOOL ? sh_kind_primary_point(kind) : f->point;
}

uint8_t mbp_coil_value(int on)
{
	return on != 0;
}
