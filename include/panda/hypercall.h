/*
 * The guest side of Hypanda's hypercall device: an x86 I/O port a guest
 * reads (IN EAX, DX) to ask the host for an action. Plain C macros, so a
 * freestanding guest, a kernel module or assembly can use them.
 *
 *   EAX = HYPANDA_HC_MAGIC, EBX = command, ECX = argument, DX = the port;
 *   IN EAX, DX
 *   EAX = result: HYPANDA_HC_OK (or a command's value), or an error code
 *
 * Other registers are left as they were. Without the device (a machine
 * without it, or plain QEMU) the read returns 0xffffffff.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef PANDA_HYPERCALL_H
#define PANDA_HYPERCALL_H

#define HYPANDA_HC_PORT 0x5848       /* "HX" */
#define HYPANDA_HC_MAGIC 0x4879706e  /* "Hypn", as the CPUID hypercall's */

/* Commands (EBX) and what they return. */
#define HYPANDA_HC_QUERY_ENGINE 0    /* the engine running the guest: below */
#define HYPANDA_HC_SWITCH_TO_TCG 1   /* HYPANDA_HC_OK once the guest runs in TCG */
#define HYPANDA_HC_SWITCH_TO_KVM 2   /* HYPANDA_HC_OK once the guest runs in KVM */
#define HYPANDA_HC_BEGIN_RECORD 3    /* record from the next block into the device's record= folder */
#define HYPANDA_HC_END_RECORD 4      /* end that recording at this instruction; a recording the host
                                      * began is not the guest's to end: HYPANDA_HC_ERR_FORBIDDEN */
#define HYPANDA_HC_LLVM_ON 5         /* LLVM mode from the next block (under KVM in hybrid mode: the
                                      * guest goes to TCG with LLVM mode on); HYPANDA_HC_OK */
#define HYPANDA_HC_LLVM_OFF 6        /* TCG's own code from the next block (the guest stays in TCG);
                                      * HYPANDA_HC_OK */
#define HYPANDA_HC_QUERY_LLVM 7      /* 1 if LLVM mode is on (or asked for, from the next block), else 0 */

/* Engines (HYPANDA_HC_QUERY_ENGINE). */
#define HYPANDA_ENGINE_TCG 1
#define HYPANDA_ENGINE_KVM 2

/* Results (EAX). */
#define HYPANDA_HC_OK 0
#define HYPANDA_HC_ERR_UNKNOWN 0x80000001u     /* no such command */
#define HYPANDA_HC_ERR_FORBIDDEN 0x80000002u   /* the host's policy does not allow it */
#define HYPANDA_HC_ERR_UNAVAILABLE 0x80000003u /* not in this emulator (e.g. no hybrid mode) */
#define HYPANDA_HC_ERR_BAD_MAGIC 0x80000004u   /* EAX was not HYPANDA_HC_MAGIC */
#define HYPANDA_HC_NO_DEVICE 0xffffffffu       /* what a read of an empty port gives */

#endif
