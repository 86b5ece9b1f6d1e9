/*
 * modbus_point.h: a Modbus point's raw registers or bits to a reading, and a
 * reading to a coil value. Pure: no I/O, no libmodbus; the bus threads in
 * gateway/bus.c read the tables and hand the raw data here.
 *
 * Registers are host-order 16-bit words as the protocol carries them (bytes
 * inside a register are big-endian on the wire; libmodbus already swapped
 * them). Bits are one byte per bit, 0 or 1, as libmodbus returns them.
 */
#ifndef SH_MODBUS_POINT_H
#define SH_MODBUS_POINT_H

#include <stdint.h>

#include "point.h"

/* The four tables of the protocol (FC2, FC1, FC4, FC3). */
enum mb_table { MB_DISCRETE, MB_COIL, MB_INPUT_REG, MB_HOLDING_REG };
/* How a value is laid out in its register(s). */
enum mb_type { MBT_BOOL, MBT_U16, MBT_S16, MBT_U32, MBT_S32, MBT_F32 };

/* How to turn one point's raw data into a reading. */
struct mbp_format {
	enum mb_table table;
	int bit; /* 0-15: one bit of a register; -1: the whole value */
	enum mb_type type;
	int word_little;      /* 32-bit: the first register is the low word */
	double scale, offset; /* numeric: raw * scale + offset */
	int invert;           /* bool: 1 reads as 0 and 0 as 1 */
	enum sh_point point;  /* numeric: the point it drives */
};

/* Bits (discrete inputs, coils) rather than registers. */
int mbp_table_is_bits(enum mb_table t);
/* The type a point has when the config names none: a bit is a bool, a
 * register a u16. */
enum mb_type mbp_default_type(enum mb_table t, int bit);
/* How many bits or registers the point takes from its address up: 1, or 2
 * for a 32-bit type. */
int mbp_width(const struct mbp_format *f);

/* The reading of one point from the raw data at its address: bits for a
 * bit table, regs otherwise, avail of them from the point's address on.
 * Returns 0 and sets *out, or -1 when there is no usable value: fewer than
 * mbp_width() values, a bit number outside 0-15, a type or table that does
 * not exist, a float that is NaN or infinite. */
int mbp_decode(const struct mbp_format *f, const uint8_t *bits, const uint16_t *regs, int avail,
               double *out);

/* The point a reading drives: a bool drives the primary point of the
 * sensor's kind (smoke, contact, ...), a number the configured one. */
enum sh_point mbp_reading_point(const struct mbp_format *f, enum sh_kind kind);

/* The coil value that turns an output on (on != 0) or off: 1 or 0. An
 * output's coil is written as asked; "invert" applies to reading only. */
uint8_t mbp_coil_value(int on);

#endif
