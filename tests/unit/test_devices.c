/*
 * test_devices.c: the zigbee2mqtt devices sold in Vietnam, one row each: the
 * payload zigbee2mqtt publishes for it (built from the converter named in
 * the row, zigbee-herdsman-converters src/...), the kind the sensor is
 * configured as, its "actions" option if any, and exactly the readings the
 * decoder must give: no point more, none less.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sensors/family.h"

struct device_row {
	const char *device;  /* model, and what the row shows */
	enum sh_kind kind;   /* the sensor's configured kind */
	const char *actions; /* the mqtt "actions" option as JSON, or NULL */
	const char *payload; /* on the device's state topic */
	const char *want;    /* "point=value,...": every reading, nothing else */
	const char *dropped; /* the field reported dropped, or NULL */
};

static const struct device_row rows[] = {
    /* ---- smoke ---------------------------------------------------------- */
    /* src/devices/heiman.ts HS1SA-E / HS3SA/HS1SA: fz.ias_smoke_alarm_1
     * (src/converters/fromZigbee.ts; every zone status bit it names) and
     * fz.battery (batteryPercentageRemaining / 2, voltage). */
    {"Heiman HS1SA smoke", KIND_SMOKE, NULL,
     "{\"smoke\":true,\"tamper\":false,\"battery_low\":false,\"supervision_reports\":true,"
     "\"restore_reports\":true,\"trouble\":false,\"ac_status\":false,\"test\":false,"
     "\"battery_defect\":false,\"battery\":100,\"voltage\":3000,\"linkquality\":120}",
     "smoke=1,tamper=0,battery_low=0,fault=0,test=0,battery=100", NULL},
    {"Heiman HS1SA trouble (zone status bit 6)", KIND_SMOKE, NULL,
     "{\"smoke\":false,\"tamper\":false,\"battery_low\":false,\"supervision_reports\":true,"
     "\"restore_reports\":true,\"trouble\":true,\"ac_status\":false,\"test\":false,"
     "\"battery_defect\":false}",
     "smoke=0,tamper=0,battery_low=0,fault=1,test=0", NULL},
    {"Heiman HS1SA battery defect (zone status bit 9) is a low battery", KIND_SMOKE, NULL,
     "{\"smoke\":false,\"tamper\":false,\"battery_low\":false,\"supervision_reports\":true,"
     "\"restore_reports\":true,\"trouble\":false,\"ac_status\":false,\"test\":false,"
     "\"battery_defect\":true}",
     "smoke=0,tamper=0,battery_low=1,fault=0,test=0", NULL},
    /* src/devices/tuya.ts TS0601_smoke_1: dp 1 smoke trueFalse0, dp 4
     * tamper raw, dp 14 battery_low trueFalse0. */
    {"Tuya TS0601_smoke_1", KIND_SMOKE, NULL,
     "{\"smoke\":false,\"tamper\":false,\"battery_low\":true,\"linkquality\":72}",
     "smoke=0,tamper=0,battery_low=1", NULL},
    /* TS0601_smoke_3: dp 14 battery_state, tuya.valueConverter.batteryState
     * = lookup {low: 0, medium: 1, high: 2} (src/lib/tuya.ts). */
    {"Tuya TS0601_smoke_3 battery_state low", KIND_SMOKE, NULL,
     "{\"smoke\":false,\"battery_state\":\"low\"}", "smoke=0,battery_low=1", NULL},
    /* TS0601_smoke_4: battery_state + dp 15 battery raw. */
    {"Tuya TS0601_smoke_4 battery_state medium", KIND_SMOKE, NULL,
     "{\"smoke\":true,\"battery_state\":\"medium\",\"battery\":60}",
     "smoke=1,battery_low=0,battery=60", NULL},
    /* TS0601_smoke_5: dp 11 fault_alarm trueFalse1, dp 17 "alarm" onOff,
     * exposed as "Enable the alarm": a setting, never the fire. */
    {"Tuya TS0601_smoke_5 fault, alarm enable ignored", KIND_SMOKE, NULL,
     "{\"smoke\":false,\"tamper\":false,\"battery\":80,\"fault_alarm\":true,\"silence\":false,"
     "\"alarm\":\"ON\"}",
     "smoke=0,tamper=0,battery=80,fault=1", NULL},
    {"Tuya TS0601_smoke_5 alarm enabled is no smoke", KIND_SMOKE, NULL,
     "{\"alarm\":\"ON\",\"linkquality\":40}", "", NULL},
    /* TS0601_smoke_6: smoke, tamper, battery_state. */
    {"Tuya TS0601_smoke_6 battery_state high", KIND_SMOKE, NULL,
     "{\"smoke\":false,\"tamper\":true,\"battery_state\":\"high\"}",
     "smoke=0,tamper=1,battery_low=0", NULL},
    /* src/devices/tuya.ts PA-44Z: dp 11 device_fault raw (boolean). */
    {"Tuya PA-44Z device_fault", KIND_SMOKE, NULL,
     "{\"smoke\":false,\"smoke_concentration\":0,\"device_fault\":true,\"battery\":100,"
     "\"silence\":false,\"test\":false}",
     "smoke=0,fault=1,battery=100,test=0", NULL},
    /* ZSS-QY-SSD-A-EN: fault_alarm, battery_state, battery. */
    {"Tuya ZSS-QY-SSD-A-EN low battery", KIND_SMOKE, NULL,
     "{\"smoke\":false,\"smoke_concentration\":0,\"fault_alarm\":false,"
     "\"battery_state\":\"low\",\"battery\":10,\"silence\":false,\"self_test\":false}",
     "smoke=0,fault=0,battery_low=1,battery=10", NULL},
    /* Heiman HS2SA-1 (TS0601): battery_state, self_test enum (not read). */
    {"Heiman HS2SA-1", KIND_SMOKE, NULL,
     "{\"smoke\":true,\"battery\":95,\"battery_state\":\"high\",\"silence\":\"OFF\","
     "\"self_test\":\"check_success\"}",
     "smoke=1,battery=95,battery_low=0", NULL},
    /* src/devices/tuya.ts SA12IZL: enum battery_level low/middle/high,
     * binary "alarm" = Enable the alarm. */
    {"Tuya SA12IZL battery_level low", KIND_SMOKE, NULL,
     "{\"smoke\":false,\"battery\":15,\"battery_level\":\"low\",\"alarm\":true,"
     "\"silence_siren\":false}",
     "smoke=0,battery=15,battery_low=1", NULL},
    /* src/devices/woox.ts R7049: battery_level middle, fault_alarm. */
    {"Woox R7049 fault", KIND_SMOKE, NULL,
     "{\"battery_low\":false,\"smoke\":false,\"test_alarm\":false,"
     "\"test_alarm_result\":\"check_success\",\"battery_level\":\"middle\",\"alarm\":true,"
     "\"fault_alarm\":true,\"silence_siren\":false}",
     "smoke=0,battery_low=0,fault=1", NULL},
    /* src/devices/lumi.ts JTYJ-GD-01LM/BW: lumi.fromZigbee.lumi_smoke (the
     * ias_smoke_alarm_1 fields, test from bit 1) and lumi_basic. */
    {"Xiaomi JTYJ-GD-01LM/BW", KIND_SMOKE, NULL,
     "{\"smoke\":true,\"tamper\":false,\"battery_low\":false,\"supervision_reports\":false,"
     "\"restore_reports\":true,\"trouble\":false,\"ac_status\":false,\"test\":false,"
     "\"battery_defect\":false,\"smoke_density\":11,\"battery\":100,\"voltage\":3005,"
     "\"device_temperature\":27,\"power_outage_count\":3}",
     "smoke=1,tamper=0,battery_low=0,fault=0,test=0,battery=100", NULL},
    /* JY-GZ-01AQ: lumi.fromZigbee.lumi_specific (src/lib/lumi.ts, 160
     * smoke, 161 density, 162 test, 163 buzzer_manual_mute, 164
     * heartbeat_indicator, 165 linkage_alarm) and fz.battery. */
    {"Aqara JY-GZ-01AQ", KIND_SMOKE, NULL,
     "{\"smoke\":true,\"smoke_density\":5,\"smoke_density_dbm\":0.1,\"test\":false,"
     "\"buzzer_manual_mute\":false,\"heartbeat_indicator\":false,\"linkage_alarm\":false,"
     "\"battery\":100,\"voltage\":3000}",
     "smoke=1,test=0,battery=100", NULL},

    /* ---- heat ----------------------------------------------------------- */
    /* src/devices/heiman.ts HM-5HA-E: m.iasZoneAlarm({zoneType: "alarm",
     * zoneAttributes: [alarm_1, battery_low, test, tamper]}) publishes
     * "alarm" (src/lib/modernExtend.ts), m.battery, m.temperature,
     * heimanClusterSensorFaultState "fault_state". */
    {"Heiman HM-5HA-E heat alarm", KIND_HEAT, NULL,
     "{\"alarm\":true,\"battery_low\":false,\"test\":false,\"tamper\":false,\"battery\":100,"
     "\"temperature\":68.5,\"fault_state\":\"normal\"}",
     "heat=1,battery_low=0,test=0,tamper=0,battery=100,temperature=68.5,fault=0", NULL},
    {"Heiman HM-5HA-E sensor faults", KIND_HEAT, NULL,
     "{\"alarm\":false,\"fault_state\":\"open_circuit_fault | short_circuit_fault\"}",
     "heat=0,fault=1", NULL},
    {"Heiman HM-5HA-E fault code without a name", KIND_HEAT, NULL,
     "{\"alarm\":false,\"fault_state\":\"unknown\"}", "heat=0,fault=1", NULL},
    /* src/devices/develco.ts HESZB-120 (Frient 94431 heat alarm):
     * ias_smoke_alarm_1_develco publishes "smoke"; fault_status gives
     * reliability and fault; m.battery without lowStatus. */
    {"Frient HESZB-120 fire", KIND_HEAT, NULL,
     "{\"smoke\":true,\"battery_low\":false,\"supervision_reports\":false,"
     "\"restore_reports\":true,\"test\":false,\"reliability\":\"no_fault_detected\","
     "\"fault\":false,\"battery\":90,\"voltage\":2950,\"temperature\":24,\"max_duration\":240}",
     "heat=1,battery_low=0,test=0,fault=0,battery=90,temperature=24", NULL},
    {"Frient HESZB-120 fault", KIND_HEAT, NULL,
     "{\"smoke\":false,\"reliability\":\"process_error\",\"fault\":true}", "heat=0,fault=1", NULL},
    {"Frient HESZB-120 unreliable, fault flag clear", KIND_HEAT, NULL,
     "{\"smoke\":false,\"reliability\":\"unreliable_other\",\"fault\":false}", "heat=0,fault=1",
     NULL},
    /* Generic heat detectors that do say "heat". */
    {"heat key", KIND_HEAT, NULL, "{\"heat\":true}", "heat=1", NULL},

    /* ---- gas ------------------------------------------------------------ */
    /* src/devices/tuya.ts TS0601_gas_sensor_1: dp 1 gas trueFalse0, dp 9
     * self_test_result (src/lib/tuya.ts valueConverter.selfTestResult:
     * checking/success/failure/others), dp 11 fault_alarm trueFalse1. */
    {"Tuya TS0601_gas_sensor_1", KIND_GAS, NULL,
     "{\"gas\":true,\"self_test\":false,\"self_test_result\":\"success\","
     "\"fault_alarm\":false,\"silence\":false}",
     "gas=1,fault=0", NULL},
    {"Tuya TS0601_gas_sensor_1 failed self-test", KIND_GAS, NULL,
     "{\"gas\":false,\"self_test_result\":\"failure\",\"fault_alarm\":false}", "gas=0,fault=1",
     NULL},
    /* TS0601_gas_sensor_2: gas trueFalseEnum0, gas_value, preheat,
     * alarm_ringtone, alarm_time; a self-test still checking says nothing. */
    {"Tuya TS0601_gas_sensor_2", KIND_GAS, NULL,
     "{\"gas\":false,\"gas_value\":2.5,\"self_test\":false,\"self_test_result\":\"checking\","
     "\"preheat\":true,\"silence\":false,\"alarm_ringtone\":\"melody_1\",\"alarm_time\":60}",
     "gas=0", NULL},
    /* TS0601_gas_sensor_3 and _4: fault_alarm trueFalse1. */
    {"Tuya TS0601_gas_sensor_3 fault", KIND_GAS, NULL,
     "{\"gas\":false,\"self_test_result\":\"success\",\"fault_alarm\":true}", "gas=0,fault=1",
     NULL},
    {"Tuya TS0601_gas_sensor_4 fault", KIND_GAS, NULL,
     "{\"gas\":false,\"gas_value\":0,\"preheat\":false,\"fault_alarm\":true,"
     "\"alarm_switch\":true,\"silence\":false}",
     "gas=0,fault=1", NULL},
    /* src/devices/heiman.ts HS1CG: fz.ias_gas_alarm_1 (gas bit 0, tamper,
     * battery_low); HS3CG: fz.ias_gas_alarm_2 (gas bit 1), same keys. */
    {"Heiman HS1CG gas", KIND_GAS, NULL,
     "{\"gas\":true,\"tamper\":false,\"battery_low\":false,\"linkquality\":200}",
     "gas=1,tamper=0,battery_low=0", NULL},
    {"Heiman HS3CG gas", KIND_GAS, NULL, "{\"gas\":true,\"tamper\":true,\"battery_low\":false}",
     "gas=1,tamper=1,battery_low=0", NULL},

    /* ---- panic ---------------------------------------------------------- */
    /* src/devices/heiman.ts HS1EB/HS1EB-E: fz.command_status_change_
     * notification_action, zone status 0..3 = off/single/double/hold. Any
     * press of a panic button is a panic; "off" is none. */
    {"Heiman HS1EB hold", KIND_PANIC, NULL, "{\"action\":\"hold\",\"battery\":100}",
     "panic=1,battery=100", NULL},
    {"Heiman HS1EB single", KIND_PANIC, NULL, "{\"action\":\"single\"}", "panic=1", NULL},
    {"Heiman HS1EB double", KIND_PANIC, NULL, "{\"action\":\"double\"}", "panic=1", NULL},
    {"Heiman HS1EB off is no press", KIND_PANIC, NULL, "{\"action\":\"off\",\"battery\":99}",
     "battery=99", NULL},
    {"zigbee2mqtt's empty action is no press", KIND_PANIC, NULL, "{\"action\":\"\"}", "", NULL},
    {"HS1EB, single ignored by the map", KIND_PANIC, "{\"single\":\"ignore\"}",
     "{\"action\":\"single\"}", "", NULL},
    {"HS1EB, hold still a press with single ignored", KIND_PANIC, "{\"single\":\"ignore\"}",
     "{\"action\":\"hold\"}", "panic=1", NULL},
    {"HS1EB, only hold listed: double is ignored", KIND_PANIC, "[\"hold\"]",
     "{\"action\":\"double\"}", "", NULL},
    {"HS1EB, only hold listed: hold", KIND_PANIC, "[\"hold\"]", "{\"action\":\"hold\"}", "panic=1",
     NULL},
    /* src/devices/tuya.ts TS0215A_sos: fz.command_emergency, action
     * "emergency". */
    {"Tuya TS0215A_sos", KIND_PANIC, NULL,
     "{\"action\":\"emergency\",\"battery\":100,\"voltage\":3000}", "panic=1,battery=100", NULL},
    /* fz.ias_sos_alarm_2: sos true; the release (false) is no event. */
    {"IAS SOS button", KIND_PANIC, NULL, "{\"sos\":true,\"battery_low\":false}",
     "panic=1,battery_low=0", NULL},
    {"IAS SOS release", KIND_PANIC, NULL, "{\"sos\":false,\"battery_low\":false}", "battery_low=0",
     NULL},
    /* A button of another kind: only the SOS words (and its map). */
    {"scene switch on a door sensor: single is no panic", KIND_DOOR, NULL,
     "{\"action\":\"single\"}", "", NULL},
    {"emergency on a generic sensor", KIND_GENERIC, NULL, "{\"action\":\"emergency\"}", "panic=1",
     NULL},
    {"a map on another kind", KIND_GENERIC, "{\"double\":\"panic\"}", "{\"action\":\"double\"}",
     "panic=1", NULL},

    /* ---- doors, sirens -------------------------------------------------- */
    /* src/devices/heiman.ts HS3DS: fz.ias_contact_alarm_1, contact =
     * !(zone status bit 0): true is closed. */
    {"Heiman HS3DS door open", KIND_DOOR, NULL,
     "{\"contact\":false,\"tamper\":false,\"battery_low\":false,\"battery\":100}",
     "contact=1,tamper=0,battery_low=0,battery=100", NULL},
    /* src/devices/lumi.ts MCCGQ11LM: contact (genOnOff, true closed). */
    {"Xiaomi MCCGQ11LM door closed", KIND_DOOR, NULL,
     "{\"contact\":true,\"battery\":91,\"voltage\":3025,\"device_temperature\":25}",
     "contact=0,battery=91", NULL},
    /* src/devices/woox.ts R7051 siren: fz.ias_alarm_only_alarm_1 "alarm". */
    {"Woox R7051 siren sounding", KIND_SIREN_FEEDBACK, NULL,
     "{\"alarm\":true,\"battery\":100,\"volume\":50,\"duration\":60}", "sounding=1,battery=100",
     NULL},
    /* src/devices/neo.ts: binary alarm ON/OFF. */
    {"NEO siren silent", KIND_SIREN_FEEDBACK, NULL, "{\"alarm\":\"OFF\"}", "sounding=0", NULL},

    /* ---- bad values: the field is dropped alone ------------------------- */
    {"battery_state purple", KIND_SMOKE, NULL,
     "{\"smoke\":true,\"battery_state\":\"purple\",\"battery\":50}", "smoke=1,battery=50",
     "battery_state"},
    {"battery_state number", KIND_SMOKE, NULL, "{\"smoke\":true,\"battery_state\":0}", "smoke=1",
     "battery_state"},
    {"battery_level purple", KIND_SMOKE, NULL, "{\"smoke\":false,\"battery_level\":\"purple\"}",
     "smoke=0", "battery_level"},
    {"fault_alarm maybe", KIND_GAS, NULL, "{\"gas\":true,\"fault_alarm\":\"maybe\"}", "gas=1",
     "fault_alarm"},
    {"fault 7", KIND_HEAT, NULL, "{\"smoke\":true,\"fault\":7}", "heat=1", "fault"},
    {"fault broken", KIND_HEAT, NULL, "{\"smoke\":true,\"fault\":\"broken\"}", "heat=1", "fault"},
    {"Tuya fault enum", KIND_SMOKE, NULL, "{\"smoke\":false,\"fault\":\"Fault\"}",
     "smoke=0,fault=1", NULL},
    {"reliability weird", KIND_HEAT, NULL, "{\"smoke\":true,\"reliability\":\"weird\"}", "heat=1",
     "reliability"},
    {"fault_state purple", KIND_HEAT, NULL, "{\"alarm\":true,\"fault_state\":\"purple\"}", "heat=1",
     "fault_state"},
    {"fault_state empty", KIND_HEAT, NULL, "{\"alarm\":true,\"fault_state\":\"\"}", "heat=1",
     "fault_state"},
    {"fault_state with an odd part", KIND_HEAT, NULL,
     "{\"alarm\":true,\"fault_state\":\"smoke_fault | x\"}", "heat=1", "fault_state"},
    {"self_test_result purple", KIND_GAS, NULL, "{\"gas\":true,\"self_test_result\":\"purple\"}",
     "gas=1", "self_test_result"},
    /* HESZB-120's "alarm" START/OFF is a command (ea.SET), never a state:
     * on a heat detector it is no boolean. */
    {"alarm START on heat", KIND_HEAT, NULL, "{\"alarm\":\"START\",\"temperature\":30}",
     "temperature=30", "alarm"},
    {"action number on a panic button", KIND_PANIC, NULL, "{\"action\":5,\"battery\":80}",
     "battery=80", "action"},
    {"trouble string", KIND_SMOKE, NULL, "{\"smoke\":false,\"trouble\":\"yes\"}", "smoke=0",
     "trouble"},
    /* Several keys of one point in one message: any "low"/"fault" wins. */
    {"battery_low false and battery_state low", KIND_SMOKE, NULL,
     "{\"battery_low\":false,\"battery_state\":\"low\"}", "battery_low=1", NULL},
    {"trouble repeated: the last wins", KIND_SMOKE, NULL, "{\"trouble\":true,\"trouble\":false}",
     "fault=0", NULL},
};

static const struct family *z2m(void)
{
	const struct family *f = family_find("zigbee2mqtt");
	assert_non_null(f);
	return f;
}

static char cfg_error[512];

static void record(void *ctx, int severity, const cJSON *node, const char *key, const char *fmt,
                   ...)
{
	va_list ap;
	int off;
	(void)ctx;
	(void)node;
	if (severity != 0 || cfg_error[0])
		return;
	off = snprintf(cfg_error, sizeof(cfg_error), "%s: ", key ? key : "");
	va_start(ap, fmt);
	vsnprintf(cfg_error + off, sizeof(cfg_error) - (size_t)off, fmt, ap);
	va_end(ap);
}

static const struct cfg_report cfg = {.ctx = NULL, .report = record};

/* Configure a sensor binding of this kind with {"actions": ACTIONS}. */
static int bind(struct family_binding *b, enum sh_kind kind, const char *actions)
{
	cJSON *mqtt;
	char text[512];
	int rc;
	memset(b, 0, sizeof(*b));
	b->topic = "zigbee2mqtt/dev";
	b->format = "zigbee2mqtt";
	b->kind = kind;
	cfg_error[0] = 0;
	snprintf(text, sizeof(text),
	         "{\"topic\":\"zigbee2mqtt/dev\",\"format\":\"zigbee2mqtt\"%s%s}",
	         actions ? ",\"actions\":" : "", actions ? actions : "");
	mqtt = cJSON_Parse(text);
	assert_non_null(mqtt);
	rc = z2m()->configure(b, mqtt, &cfg);
	cJSON_Delete(mqtt);
	return rc;
}

static void unbind(struct family_binding *b)
{
	if (b->opts)
		z2m()->free_opts(b);
}

/* "smoke=1,battery=100" -> values; returns how many. */
static int parse_want(const char *want, struct sh_point_value *v)
{
	char buf[256], *save = NULL, *tok;
	int n = 0;
	snprintf(buf, sizeof(buf), "%s", want);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		int p;
		assert_non_null(eq);
		*eq = 0;
		p = sh_point_from_name(tok);
		if (p < 0)
			fail_msg("bad point name %s in the table", tok);
		v[n].point = (enum sh_point)p;
		v[n].value = strtod(eq + 1, NULL);
		n++;
	}
	return n;
}

static void describe(char *buf, size_t size, const struct sh_point_value *v, int n)
{
	size_t off = 0;
	buf[0] = 0;
	for (int i = 0; i < n && off < size; i++)
		off += (size_t)snprintf(buf + off, size - off, "%s%s=%g", i ? "," : "",
		                        sh_point_name(v[i].point), v[i].value);
}

static void test_each_device_gives_exactly_its_readings(void **state)
{
	(void)state;
	for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
		const struct device_row *row = &rows[r];
		struct sh_point_value got[FAMILY_MAX_VALUES], want[FAMILY_MAX_VALUES];
		struct family_binding b;
		struct family_drops d;
		enum family_reject why = REJECT_NONE;
		char gs[256];
		int n = 0, nw;

		if (bind(&b, row->kind, row->actions) != 0)
			fail_msg("%s: config refused: %s", row->device, cfg_error);
		if (z2m()->decode(&b, 0, row->payload, strlen(row->payload), got, &n, &why, &d) < 0)
			fail_msg("%s: refused (%s)", row->device, family_reject_name(why));
		unbind(&b);
		nw = parse_want(row->want, want);
		describe(gs, sizeof(gs), got, n);
		if (n != nw)
			fail_msg("%s: got {%s}, want {%s}", row->device, gs, row->want);
		for (int i = 0; i < nw; i++) {
			int found = 0;
			for (int j = 0; j < n; j++)
				found |=
				    got[j].point == want[i].point && got[j].value == want[i].value;
			if (!found)
				fail_msg("%s: got {%s}, want {%s}", row->device, gs, row->want);
		}
		if (row->dropped) {
			if (d.count != 1 || !d.field || strcmp(d.field, row->dropped) != 0 ||
			    !d.reason)
				fail_msg("%s: want %s dropped, got %d drop(s), first %s",
				         row->device, row->dropped, d.count,
				         d.field ? d.field : "(none)");
		} else if (d.count != 0) {
			fail_msg("%s: nothing should be dropped, got %s (%s)", row->device, d.field,
			         d.reason);
		}
	}
}

struct cfg_row {
	const char *actions;
	const char *error; /* a part of the message, and its key first */
};

static void test_bad_actions_options_are_refused_with_their_key(void **state)
{
	static const struct cfg_row bad[] = {
	    {"\"hold\"", "actions: must be a list"},
	    {"42", "actions: must be a list"},
	    {"[]", "actions: an empty list"},
	    {"[\"hold\",7]", "actions[1]: must be a string"},
	    {"[\"\"]", "actions[0]: an empty action value"},
	    {"[\"hold\",\"hold\"]", "actions[1]: \"hold\" is named twice"},
	    {"{\"hold\":\"panik\"}", "actions.hold: must be \"panic\" or \"ignore\"; did you mean "
	                             "\"panic\"?"},
	    {"{\"hold\":true}", "actions.hold: must be \"panic\" or \"ignore\""},
	    {"{\"\":\"panic\"}", "actions.: an empty action value"},
	    {"[\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"]",
	     "actions[0]: action value too long"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct family_binding b;
		int rc = bind(&b, KIND_PANIC, bad[i].actions);
		unbind(&b);
		if (rc == 0 || !strstr(cfg_error, bad[i].error))
			fail_msg("actions %s: want an error \"%s\", got rc=%d \"%s\"",
			         bad[i].actions, bad[i].error, rc, cfg_error);
	}
}

static void test_too_many_action_values_are_refused(void **state)
{
	char list[2048] = "[";
	struct family_binding b;
	int rc;
	(void)state;
	for (int i = 0; i < 33; i++)
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s\"a%d\"",
		         i ? "," : "", i);
	strcat(list, "]");
	rc = bind(&b, KIND_PANIC, list);
	unbind(&b);
	assert_int_equal(rc, -1);
	assert_non_null(strstr(cfg_error, "too many action values, at most 32"));
}

static void test_actions_on_an_output_are_refused(void **state)
{
	struct family_binding b = {.topic = "zigbee2mqtt/siren/set",
	                           .format = "zigbee2mqtt",
	                           .is_output = 1,
	                           .siren = 1,
	                           .kind = KIND_GENERIC};
	cJSON *mqtt = cJSON_Parse("{\"actions\":[\"hold\"]}");
	(void)state;
	cfg_error[0] = 0;
	assert_int_equal(z2m()->configure(&b, mqtt, &cfg), -1);
	assert_non_null(strstr(cfg_error, "only a sensor maps actions"));
	cJSON_Delete(mqtt);
	if (b.opts)
		z2m()->free_opts(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_each_device_gives_exactly_its_readings),
	    cmocka_unit_test(test_bad_actions_options_are_refused_with_their_key),
	    cmocka_unit_test(test_too_many_action_values_are_refused),
	    cmocka_unit_test(test_actions_on_an_output_are_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
