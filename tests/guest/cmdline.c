/*
 * Command-line parsing for the test guest (see cmdline.h). Grammar:
 *   workloads := workload { workload }
 *   workload  := name number | "disk" [number]
 *   number    := decimal | "0x" hex
 * Each workload's number has a range; anything else is an error with a
 * message naming the offending word.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "cmdline.h"
#include "model.h"

#include <stdarg.h>
#include <stdbool.h>

struct workload_spec {
    const char *name;
    uint64_t min;
    uint64_t max;
    bool arg_optional;
    uint64_t arg_default;
};

static const struct workload_spec specs[HP_WORKLOAD_KINDS] = {
    [HP_WORKLOAD_COUNT] = {"count", 1, UINT64_C(1) << 40, false, 0},
    [HP_WORKLOAD_MEM] = {"mem", 1, UINT64_C(1) << 32, false, 0},
    [HP_WORKLOAD_USER] = {"user", 1, 10000000, false, 0},
    [HP_WORKLOAD_TIMER] = {"timer", 1, 100000, false, 0},
    [HP_WORKLOAD_IO] = {"io", 1, 1000000, false, 0},
    [HP_WORKLOAD_DISK] = {"disk", 1, 256, true, 8},
    [HP_WORKLOAD_HYPERCALL] = {"hypercall", 1, 1000000, false, 0},
    [HP_WORKLOAD_FAULT] = {"fault", 1, 100000, false, 0},
    [HP_WORKLOAD_CROSS] = {"cross", 1, 1000000, false, 0},
    [HP_WORKLOAD_ALIAS] = {"alias", 1, UINT64_C(1) << 40, false, 0},
    [HP_WORKLOAD_SWITCH] = {"switch", 1, 1000000, false, 0},
    [HP_WORKLOAD_SWITCHGPR] = {"switchgpr", 1, 1000000, false, 0},
    [HP_WORKLOAD_WINDOW] = {"window", 1, UINT64_C(1) << 32, false, 0},
    [HP_WORKLOAD_LLVMWINDOW] = {"llvmwindow", 1, UINT64_C(1) << 32, false, 0},
    [HP_WORKLOAD_TIMERSWITCH] = {"timerswitch", 1, 100000, false, 0},
    [HP_WORKLOAD_SWITCHLAT] = {"switchlat", 2, HP_SWITCHLAT_MAX, false, 0},
    [HP_WORKLOAD_SWITCHTO] = {"switchto", HYPANDA_ENGINE_TCG, HYPANDA_ENGINE_KVM, false, 0},
    [HP_WORKLOAD_SMC] = {"smc", 1, 100000, false, 0},
    [HP_WORKLOAD_MSRSWITCH] = {"msrswitch", 1, 100000, false, 0},
    [HP_WORKLOAD_FPUSWITCH] = {"fpuswitch", 1, 100000, false, 0},
    [HP_WORKLOAD_FPUSTATE] = {"fpustate", 1, 100000, false, 0},
    [HP_WORKLOAD_BRACKET] = {"bracket", 1, UINT64_C(1) << 32, false, 0},
    [HP_WORKLOAD_DISKDMA] = {"diskdma", 1, HP_DISKDMA_MAX, false, 0},
    [HP_WORKLOAD_PATCH] = {"patch", 1, 1000000, false, 0},
    [HP_WORKLOAD_TAINTFLOW] = {"taintflow", 16, HP_TAINTFLOW_MAX, false, 0},
    [HP_WORKLOAD_TAINTBAD] = {"taintbad", 1, 1000, false, 0},
};

const char *hp_workload_name(enum hp_workload_kind kind)
{
    return kind < HP_WORKLOAD_KINDS ? specs[kind].name : "?";
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static const char *skip_blanks(const char *p)
{
    while (*p != '\0' && is_blank(*p)) {
        p++;
    }
    return p;
}

static size_t word_length(const char *p)
{
    size_t n = 0;
    while (p[n] != '\0' && !is_blank(p[n])) {
        n++;
    }
    return n;
}

static bool word_equals(const char *word, size_t len, const char *s)
{
    size_t i = 0;
    for (; i < len; i++) {
        if (s[i] == '\0' || s[i] != word[i]) {
            return false;
        }
    }
    return s[i] == '\0';
}

/* Parses a whole word as a number; false on any stray character, on an
 * empty word and on overflow. */
static bool parse_number(const char *word, size_t len, uint64_t *value)
{
    uint64_t base = 10;
    size_t i = 0;
    if (len > 2 && word[0] == '0' && (word[1] == 'x' || word[1] == 'X')) {
        base = 16;
        i = 2;
    }
    if (i == len) {
        return false;
    }
    uint64_t v = 0;
    for (; i < len; i++) {
        char c = word[i];
        uint64_t d;
        if (c >= '0' && c <= '9') {
            d = (uint64_t)(c - '0');
        } else if (base == 16 && c >= 'a' && c <= 'f') {
            d = (uint64_t)(c - 'a' + 10);
        } else if (base == 16 && c >= 'A' && c <= 'F') {
            d = (uint64_t)(c - 'A' + 10);
        } else {
            return false;
        }
        if (v > (UINT64_MAX - d) / base) {
            return false;
        }
        v = v * base + d;
    }
    *value = v;
    return true;
}

/* A tiny formatter for error messages: %s (string), %w (word: pointer and
 * length, as two arguments), %u (uint64_t). */
static void format_error(char *err, size_t size, const char *fmt, ...)
{
    size_t n = 0;
    va_list ap;
    va_start(ap, fmt);
#define PUT(ch)                  \
    do {                         \
        if (n + 1 < size) {      \
            err[n++] = (ch);     \
        }                        \
    } while (0)
    for (const char *f = fmt; *f != '\0'; f++) {
        if (*f != '%') {
            PUT(*f);
            continue;
        }
        f++;
        if (*f == 's') {
            for (const char *s = va_arg(ap, const char *); *s != '\0'; s++) {
                PUT(*s);
            }
        } else if (*f == 'w') {
            const char *w = va_arg(ap, const char *);
            size_t len = va_arg(ap, size_t);
            for (size_t i = 0; i < len && i < 40; i++) {
                PUT(w[i]);
            }
            if (len > 40) {
                PUT('.'); PUT('.'); PUT('.');
            }
        } else if (*f == 'u') {
            uint64_t v = va_arg(ap, uint64_t);
            char digits[20];
            int k = 0;
            do {
                digits[k++] = (char)('0' + v % 10);
                v /= 10;
            } while (v != 0);
            while (k > 0) {
                PUT(digits[--k]);
            }
        }
    }
#undef PUT
    va_end(ap);
    if (size > 0) {
        err[n < size ? n : size - 1] = '\0';
    }
}

#define WORKLOAD_LIST "count N, mem N, user N, timer N, io N, disk [N], hypercall N, fault N, cross N, alias N, switch N, switchgpr N, window N, llvmwindow N, timerswitch N, switchlat N, switchto 1|2, smc N, msrswitch N, fpuswitch N, fpustate N, bracket N, diskdma N, patch N, taintflow N, taintbad N"

const char *hp_skip_kernel_name(const char *cmdline)
{
    const char *p = skip_blanks(cmdline);
    p += word_length(p);
    return skip_blanks(p);
}

int hp_parse_cmdline(const char *cmdline, struct hp_workload *out, char *err, size_t err_size)
{
    int count = 0;
    const char *p = skip_blanks(cmdline);
    if (*p == '\0') {
        format_error(err, err_size, "no workload given; workloads: %s", WORKLOAD_LIST);
        return -1;
    }
    while (*p != '\0') {
        size_t len = word_length(p);
        int kind = 0;
        while (kind < HP_WORKLOAD_KINDS && !word_equals(p, len, specs[kind].name)) {
            kind++;
        }
        if (kind == HP_WORKLOAD_KINDS) {
            format_error(err, err_size, "unknown workload '%w'; workloads: %s", p, len, WORKLOAD_LIST);
            return -1;
        }
        if (count == HP_MAX_WORKLOADS) {
            format_error(err, err_size, "too many workloads: at most %u in one command line",
                         (uint64_t)HP_MAX_WORKLOADS);
            return -1;
        }
        const struct workload_spec *spec = &specs[kind];
        const char *name = p;
        size_t name_len = len;
        p = skip_blanks(p + len);
        len = word_length(p);
        uint64_t value;
        bool have_number = len > 0 && parse_number(p, len, &value);
        if (!have_number) {
            if (!spec->arg_optional) {
                if (len == 0) {
                    format_error(err, err_size, "%w needs a number, got nothing", name, name_len);
                } else {
                    format_error(err, err_size, "%w needs a number, got '%w'", name, name_len, p, len);
                }
                return -1;
            }
            value = spec->arg_default;
        } else {
            p = skip_blanks(p + len);
        }
        if (value < spec->min || value > spec->max) {
            format_error(err, err_size, "%w %u is out of range %u..%u", name, name_len, value,
                         spec->min, spec->max);
            return -1;
        }
        out[count].kind = (enum hp_workload_kind)kind;
        out[count].arg = value;
        count++;
    }
    return count;
}
