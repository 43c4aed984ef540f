/*
 * A user of the osi and hooks plugins for the Linux analysis test: at the
 * first execution of address `at` (hpana_osi_marker) it writes to `output`
 * what osi says then:
 *
 *   current PID PPID NAME             get_current_process
 *   thread PID TID                    get_current_thread
 *   proc PID PPID NAME                get_processes, one line each
 *   map START-END PERMS OFFSET FILE   get_mappings of the current process,
 *                                     in /proc/PID/maps's notation
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <inttypes.h>
#include <stdio.h>

#include "hooks/hooks.h"
#include "osi/osi.h"
#include "output.h"

static char output[256];
static bool done;

static OsiProc *(*current_process)(CPUState *);
static OsiThread *(*current_thread)(CPUState *);
static GArray *(*processes)(CPUState *);
static GArray *(*mappings)(CPUState *, OsiProc *);
static GArray *(*kernel_modules)(CPUState *);
static void (*free_proc)(OsiProc *);
static void (*free_thread)(OsiThread *);

static void at_marker(CPUState *cpu, target_ulong pc, void *context)
{
    (void)pc;
    (void)context;
    if (done) {
        return;
    }
    done = true;
    FILE *out = test_output_open(output);
    if (out == NULL) {
        return;
    }
    OsiProc *self = current_process(cpu);
    OsiThread *thread = current_thread(cpu);
    if (self != NULL) {
        fprintf(out, "current %d %d %s\n", self->pid, self->ppid, self->name);
    }
    if (thread != NULL) {
        fprintf(out, "thread %d %d\n", thread->pid, thread->tid);
        free_thread(thread);
    }
    GArray *list = processes(cpu);
    for (guint i = 0; list != NULL && i < list->len; i++) {
        const OsiProc *p = &g_array_index(list, OsiProc, i);
        fprintf(out, "proc %d %d %s\n", p->pid, p->ppid, p->name);
    }
    if (list != NULL) {
        g_array_free(list, TRUE);
    }
    GArray *maps = self != NULL ? mappings(cpu, self) : NULL;
    for (guint i = 0; maps != NULL && i < maps->len; i++) {
        const OsiModule *m = &g_array_index(maps, OsiModule, i);
        fprintf(out, "map %" PRIx64 "-%" PRIx64 " %c%c%c%c %08" PRIx64 " %s\n", m->base,
                m->base + m->size, m->flags & OSI_MAP_READ ? 'r' : '-',
                m->flags & OSI_MAP_WRITE ? 'w' : '-', m->flags & OSI_MAP_EXEC ? 'x' : '-',
                m->flags & OSI_MAP_SHARED ? 's' : 'p', m->offset, m->file);
    }
    if (maps != NULL) {
        g_array_free(maps, TRUE);
    }
    GArray *modules = kernel_modules(cpu);
    for (guint i = 0; modules != NULL && i < modules->len; i++) {
        const OsiModule *m = &g_array_index(modules, OsiModule, i);
        fprintf(out, "module %s %" PRIu64 " 0x%016" PRIx64 "\n", m->name, (uint64_t)m->size, (uint64_t)m->base);
    }
    if (modules != NULL) {
        g_array_free(modules, TRUE);
    }
    if (self != NULL) {
        free_proc(self);
    }
    test_output_close(out);
}

bool init_plugin(void *self)
{
    (void)self;
    panda_arg_list *args = panda_get_args("osiprobe");
    target_ulong at = panda_parse_uint64_req(args, "at", "address to look from");
    snprintf(output, sizeof output, "%s",
             panda_parse_string_opt(args, "output", "", "result file (default stdout)"));
    panda_free_args(args);
    if (!panda_require("hooks") || !panda_require("osi")) {
        return false;
    }
    int (*add)(target_ulong, target_ulong, hooks_fn_t, void *) = PANDA_IMPORT("hooks", hooks_add);
    current_process = PANDA_IMPORT("osi", get_current_process);
    current_thread = PANDA_IMPORT("osi", get_current_thread);
    processes = PANDA_IMPORT("osi", get_processes);
    mappings = PANDA_IMPORT("osi", get_mappings);
    kernel_modules = PANDA_IMPORT("osi", get_modules);
    free_proc = PANDA_IMPORT("osi", free_osiproc);
    free_thread = PANDA_IMPORT("osi", free_osithread);
    return add != NULL && current_process && current_thread && processes && mappings && free_proc &&
           free_thread &&
           add(at, 0, at_marker, NULL) != 0;
}

void uninit_plugin(void *self)
{
    (void)self;
}
