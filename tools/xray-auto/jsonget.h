/*
 * Small typed accessors over cJSON objects shared by the validator and the
 * tree printer. They never fail: a missing key or a value of the wrong type
 * reads as "absent", so callers decide whether absence is an error.
 */
#ifndef XRAY_AUTO_TOOL_JSONGET_H
#define XRAY_AUTO_TOOL_JSONGET_H

#include <math.h>
#include <stdbool.h>
#include <stddef.h>

#include <cJSON.h>

/* Keys are matched case-sensitively, as the X-Ray service does. */
static inline const cJSON *xt_jget(const cJSON *obj, const char *key)
{
	if (!cJSON_IsObject(obj))
		return NULL;
	return cJSON_GetObjectItemCaseSensitive(obj, key);
}

static inline const char *xt_jstr(const cJSON *obj, const char *key)
{
	const cJSON *v = xt_jget(obj, key);

	return v && cJSON_IsString(v) && v->valuestring ? v->valuestring : NULL;
}

/* True only for a finite JSON number; *out is left alone otherwise. */
static inline bool xt_jnum(const cJSON *obj, const char *key, double *out)
{
	const cJSON *v = xt_jget(obj, key);

	if (!v || !cJSON_IsNumber(v) || !isfinite(v->valuedouble))
		return false;
	*out = v->valuedouble;
	return true;
}

static inline bool xt_jtrue(const cJSON *obj, const char *key)
{
	return cJSON_IsTrue(xt_jget(obj, key)) != 0;
}

#endif
