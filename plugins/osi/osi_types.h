/*
 * What the osi plugin reports: processes, threads and memory mappings,
 * with PANDA's type and field names (so PANDA plugins using osi port with
 * few changes). Lists are GLib GArrays, as in PANDA; each has a clear
 * function, so g_array_free(list, TRUE) frees the strings too.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef HYPANDA_PLUGIN_OSI_TYPES_H
#define HYPANDA_PLUGIN_OSI_TYPES_H

#include <glib.h>
#include <panda/plugin.h>

typedef uint64_t target_ptr_t;
typedef int32_t target_pid_t;

/* A process, without reading more than its identity. */
typedef struct osi_proc_handle_struct {
    target_ptr_t taskd; /* the OS's process descriptor (Linux: task_struct address) */
    target_ptr_t asid;  /* its address space: the physical address of its top page table */
} OsiProcHandle;

typedef struct osi_page_struct {
    target_ptr_t start;
    target_ulong len;
} OsiPage;

typedef struct osi_proc_struct {
    target_ptr_t taskd;
    target_ptr_t asid;   /* 0 for kernel threads (no address space of their own) */
    OsiPage *pages;      /* always NULL (PANDA's field, unused there too) */
    char *name;          /* Linux: comm, at most 15 characters */
    target_pid_t pid;    /* Linux: the thread group id, what user space calls the pid */
    target_pid_t ppid;   /* the real parent's pid */
    uint64_t create_time; /* Linux: start_time, nanoseconds since boot */
} OsiProc;

typedef struct osi_thread_struct {
    target_pid_t pid;
    target_pid_t tid;
} OsiThread;

/* A memory mapping of a process (get_mappings) or a kernel module. */
typedef struct osi_module_struct {
    target_ptr_t modd;  /* the OS's descriptor (Linux: vm_area_struct address) */
    target_ptr_t base;  /* first address */
    target_ptr_t size;  /* bytes */
    char *file;         /* full path of the mapped file; for anonymous mappings
                           "[heap]", "[stack]", "[vdso]", "[vvar]" as in
                           /proc/PID/maps, or "" */
    char *name;         /* the file's base name, or the same as `file` */
    /* Hypanda additions, at the end: */
    uint64_t offset;    /* offset in the file, bytes */
    uint32_t flags;     /* OSI_MAP_READ | OSI_MAP_WRITE | OSI_MAP_EXEC | OSI_MAP_SHARED */
} OsiModule;

#define OSI_MAP_READ 1u
#define OSI_MAP_WRITE 2u
#define OSI_MAP_EXEC 4u
#define OSI_MAP_SHARED 8u

#endif
