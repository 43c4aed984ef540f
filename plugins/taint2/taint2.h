/*
 * The taint2 plugin's API for other plugins (docs/taint.md). Function names
 * follow PANDA's taint2 where PANDA has one; the callbacks carry their
 * labels directly instead of PANDA's Addr structs.
 *
 *     #include "taint2/taint2.h"
 *     if (!panda_require("taint2")) return false;
 *     PPP_REG_CB("taint2", on_branch, my_on_branch);
 *     uint32_t (*query)(uint64_t) = PANDA_IMPORT("taint2", taint2_query_ram);
 *
 * Labels arrive sorted ascending, valid for the duration of the call.
 * Registers are PANDA_REG_X86_RAX .. PANDA_REG_X86_R15 (plugin.h), bytes
 * 0 (least significant) to 7.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef HYPANDA_PLUGIN_TAINT2_H
#define HYPANDA_PLUGIN_TAINT2_H

#include <panda/plugin_plugin.h>
#include <stdbool.h>
#include <stdint.h>

typedef uint32_t TaintLabel;

/* A guest conditional branch whose condition is tainted (indirect false),
 * or an indirect jump, call or return whose target is (indirect true), at
 * guest PC pc, before it is taken: the labels the condition or target
 * carries, and its taint-compute number. */
PPP_CB_TYPEDEF(void, on_branch, CPUState *cpu, target_ulong pc, bool indirect,
               const TaintLabel *labels, uint32_t n_labels, uint32_t tcn);
PPP_PROT_REG_CB(on_branch);

/* A guest load (on_ptr_load) or store (on_ptr_store) of `size` bytes at
 * virtual address addr through an address that is tainted, with the
 * address's labels. */
PPP_CB_TYPEDEF(void, on_ptr_load, CPUState *cpu, target_ulong pc, target_ulong addr, uint64_t size,
               const TaintLabel *labels, uint32_t n_labels);
PPP_PROT_REG_CB(on_ptr_load);
PPP_CB_TYPEDEF(void, on_ptr_store, CPUState *cpu, target_ulong pc, target_ulong addr, uint64_t size,
               const TaintLabel *labels, uint32_t n_labels);
PPP_PROT_REG_CB(on_ptr_store);

/* A guest load (on_after_load) or store (on_after_store) of `size` bytes
 * at virtual address addr whose loaded or stored bytes carry taint, after
 * it is done: the union of those bytes' labels and the largest compute
 * number among them. (PANDA calls these after every access; ours run only
 * for tainted ones — an analysis of clean accesses has the memory
 * callbacks.) pc is the instruction's, or for an access a QEMU helper
 * makes, the current PC. */
PPP_CB_TYPEDEF(void, on_after_load, CPUState *cpu, target_ulong pc, target_ulong addr,
               uint64_t size, const TaintLabel *labels, uint32_t n_labels, uint32_t tcn);
PPP_PROT_REG_CB(on_after_load);
PPP_CB_TYPEDEF(void, on_after_store, CPUState *cpu, target_ulong pc, target_ulong addr,
               uint64_t size, const TaintLabel *labels, uint32_t n_labels, uint32_t tcn);
PPP_PROT_REG_CB(on_after_store);

/* Guest RAM bytes [addr, addr + len) (physical) whose labels or compute
 * numbers just changed. */
PPP_CB_TYPEDEF(void, on_taint_change, uint64_t addr, uint64_t len);
PPP_PROT_REG_CB(on_taint_change);

/* Whether taint is being tracked; turning it on (from off) starts from an
 * empty shadow state and says so on standard error; off stops tracking
 * (LLVM mode off, unless another plugin keeps it). */
PPP_EXTERN bool taint2_enabled(void);
PPP_EXTERN void taint2_enable_taint(void);
PPP_EXTERN void taint2_disable_taint(void);

/* Sources: the byte at guest physical address paddr, or byte `offset` of
 * a register, gets the label set {label} and compute number 0. Taint is
 * turned on first if it is off. A register that is not a general-purpose
 * one is refused with one error line. */
PPP_EXTERN void taint2_label_ram(uint64_t paddr, TaintLabel label);
PPP_EXTERN void taint2_label_reg(int reg, int offset, TaintLabel label);
/* The byte becomes untainted. */
PPP_EXTERN void taint2_delete_ram(uint64_t paddr);

/* Queries: the number of labels a byte carries (0: untainted), its compute
 * number, and its labels (up to `max` written to out; the number it has is
 * returned). */
PPP_EXTERN uint32_t taint2_query_ram(uint64_t paddr);
PPP_EXTERN uint32_t taint2_query_reg(int reg, int offset);
PPP_EXTERN uint32_t taint2_query_tcn_ram(uint64_t paddr);
PPP_EXTERN uint32_t taint2_query_tcn_reg(int reg, int offset);
PPP_EXTERN uint32_t taint2_query_set_ram(uint64_t paddr, TaintLabel *out, uint32_t max);
PPP_EXTERN uint32_t taint2_query_set_reg(int reg, int offset, TaintLabel *out, uint32_t max);

#endif
