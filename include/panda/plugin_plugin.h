/*
 * Plugin-to-plugin interfaces, PANDA's way ("PPP").
 *
 * A plugin (the provider) declares callback points of its own, runs the
 * callbacks other plugins (the users) register there, and exports
 * functions they call. The macro names and their meaning are PANDA's, so
 * PANDA plugins port with few changes; the bookkeeping differs: a missing
 * provider or callback point is one error line instead of an assertion,
 * and the emulator knows who uses whom (a provider in use cannot be
 * unloaded, and what a user registered is removed when it is unloaded).
 *
 * Provider, in a header users include:
 *
 *     PPP_CB_TYPEDEF(void, on_match, CPUState *cpu, target_ulong pc);
 *     PPP_PROT_REG_CB(on_match)          // declares ppp_add_cb_on_match, ...
 *     int count_matches(void);           // an exported function
 *
 * and in one of its source files:
 *
 *     PPP_CB_BOILERPLATE(on_match)       // defines them
 *     ...
 *     PPP_RUN_CB(on_match, cpu, pc);     // calls every registered callback
 *
 * User, in init_plugin:
 *
 *     if (!panda_require("provider")) return false;
 *     PPP_REG_CB("provider", on_match, my_on_match);
 *     PPP_REG_CB_WITH_CONTEXT("provider", on_match, my_ctx_fn, &my_state);
 *     int (*count)(void) = PANDA_IMPORT("provider", count_matches);
 *
 * Callbacks without context run first, in registration order, then those
 * with context, in registration order.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef PANDA_PLUGIN_PLUGIN_H
#define PANDA_PLUGIN_PLUGIN_H

#include <stdio.h>
#include <stdlib.h>

#include "panda/plugin.h"

/* Declarations with C linkage, exported from the provider. */
#ifdef __cplusplus
#define PPP_EXTERN extern "C"
#else
#define PPP_EXTERN extern
#endif
#define PPP_EXPORT PPP_EXTERN __attribute__((visibility("default")))

/* PANDA's bound on the callbacks at one point; here the lists grow as
 * needed, so it only bounds the _slot index. */
#define PPP_MAX_CB 256

/* The registrations at one callback point, of one kind (with or without
 * context), in a list that grows. Unused slots hold NULL and are skipped. */
typedef struct panda_ppp_entry {
    void (*fn)(void);
    void *context;
} panda_ppp_entry;

typedef struct panda_ppp_list {
    int count;
    int capacity;
    panda_ppp_entry *entries;
} panda_ppp_list;

static inline void panda_ppp_list_store(panda_ppp_list *list, const char *point, int slot,
                                        void (*fn)(void), void *context)
{
    if (slot >= list->capacity) {
        int capacity = list->capacity ? list->capacity * 2 : 4;
        while (capacity <= slot) {
            capacity *= 2;
        }
        panda_ppp_entry *grown =
            (panda_ppp_entry *)realloc(list->entries, (size_t)capacity * sizeof *grown);
        if (grown == NULL) {
            fprintf(stderr, "PPP callback point '%s': out of memory; not added\n", point);
            return;
        }
        for (int i = list->capacity; i < capacity; i++) {
            grown[i].fn = NULL;
            grown[i].context = NULL;
        }
        list->entries = grown;
        list->capacity = capacity;
    }
    list->entries[slot].fn = fn;
    list->entries[slot].context = context;
    if (slot >= list->count) {
        list->count = slot + 1;
    }
}

/* ppp_add_cb_<name>_slot: at index `slot` (0 .. PPP_MAX_CB-1), replacing
 * what was there. */
static inline void panda_ppp_list_put(panda_ppp_list *list, const char *point, int slot,
                                      void (*fn)(void), void *context)
{
    if (slot < 0 || slot >= PPP_MAX_CB) {
        fprintf(stderr, "PPP callback point '%s': slot %d is outside 0..%d; not added\n", point,
                slot, PPP_MAX_CB - 1);
        return;
    }
    panda_ppp_list_store(list, point, slot, fn, context);
}

static inline void panda_ppp_list_add(panda_ppp_list *list, const char *point, void (*fn)(void),
                                      void *context)
{
    panda_ppp_list_store(list, point, list->count, fn, context);
}

static inline bool panda_ppp_list_remove(panda_ppp_list *list, void (*fn)(void), void *context)
{
    for (int i = 0; i < list->count; i++) {
        if (list->entries[i].fn == fn && list->entries[i].context == context) {
            for (int j = i + 1; j < list->count; j++) {
                list->entries[j - 1] = list->entries[j];
            }
            list->count--;
            list->entries[list->count].fn = NULL;
            return true;
        }
    }
    return false;
}

/* ---- Provider ------------------------------------------------------------- */

/* The callback types of point `cb_name`: cb_name##_t, and
 * cb_name##_with_context_t, which takes a context pointer first. */
#define PPP_CB_TYPEDEF(ret_type, cb_name, ...)                 \
    typedef ret_type (*cb_name##_t)(__VA_ARGS__);              \
    typedef ret_type (*cb_name##_with_context_t)(void *context \
                                                 __VA_OPT__(, ) __VA_ARGS__)

/* Declares point `cb_name`'s registration functions (in the provider's
 * header; C linkage, exported). */
#define PPP_PROT_REG_CB(cb_name)                                                                 \
    PPP_EXPORT void ppp_add_cb_##cb_name(cb_name##_t fptr);                                      \
    PPP_EXPORT void ppp_add_cb_##cb_name##_slot(cb_name##_t fptr, int slot_num);                 \
    PPP_EXPORT bool ppp_remove_cb_##cb_name(cb_name##_t fptr);                                   \
    PPP_EXPORT void ppp_add_cb_##cb_name##_with_context(cb_name##_with_context_t fptr,           \
                                                        void *context);                          \
    PPP_EXPORT void ppp_add_cb_##cb_name##_slot_with_context(cb_name##_with_context_t fptr,      \
                                                             int slot_num, void *context);       \
    PPP_EXPORT bool ppp_remove_cb_##cb_name##_with_context(cb_name##_with_context_t fptr,        \
                                                           void *context)

/* Defines point `cb_name`: its two lists and registration functions (in
 * one source file of the provider). */
#define PPP_CB_BOILERPLATE(cb_name)                                                              \
    PPP_PROT_REG_CB(cb_name);                                                                    \
    PPP_EXPORT panda_ppp_list ppp_##cb_name##_cbs;                                               \
    PPP_EXPORT panda_ppp_list ppp_##cb_name##_cbs_with_context;                                  \
    panda_ppp_list ppp_##cb_name##_cbs;                                                          \
    panda_ppp_list ppp_##cb_name##_cbs_with_context;                                             \
    void ppp_add_cb_##cb_name(cb_name##_t fptr)                                                  \
    {                                                                                            \
        panda_ppp_list_add(&ppp_##cb_name##_cbs, #cb_name, (void (*)(void))fptr, NULL);          \
    }                                                                                            \
    void ppp_add_cb_##cb_name##_slot(cb_name##_t fptr, int slot_num)                             \
    {                                                                                            \
        panda_ppp_list_put(&ppp_##cb_name##_cbs, #cb_name, slot_num, (void (*)(void))fptr, NULL); \
    }                                                                                            \
    bool ppp_remove_cb_##cb_name(cb_name##_t fptr)                                               \
    {                                                                                            \
        return panda_ppp_list_remove(&ppp_##cb_name##_cbs, (void (*)(void))fptr, NULL);          \
    }                                                                                            \
    void ppp_add_cb_##cb_name##_with_context(cb_name##_with_context_t fptr, void *context)       \
    {                                                                                            \
        panda_ppp_list_add(&ppp_##cb_name##_cbs_with_context, #cb_name, (void (*)(void))fptr,    \
                           context);                                                             \
    }                                                                                            \
    void ppp_add_cb_##cb_name##_slot_with_context(cb_name##_with_context_t fptr, int slot_num,   \
                                                  void *context)                                 \
    {                                                                                            \
        panda_ppp_list_put(&ppp_##cb_name##_cbs_with_context, #cb_name, slot_num,                \
                           (void (*)(void))fptr, context);                                       \
    }                                                                                            \
    bool ppp_remove_cb_##cb_name##_with_context(cb_name##_with_context_t fptr, void *context)    \
    {                                                                                            \
        return panda_ppp_list_remove(&ppp_##cb_name##_cbs_with_context, (void (*)(void))fptr,    \
                                     context);                                                   \
    }                                                                                            \
    /* The lists' memory goes when the provider is unloaded. */                                  \
    __attribute__((destructor)) static void ppp_free_##cb_name(void)                             \
    {                                                                                            \
        free(ppp_##cb_name##_cbs.entries);                                                       \
        free(ppp_##cb_name##_cbs_with_context.entries);                                          \
    }

/* For the provider's other source files that run the point. */
#define PPP_CB_EXTERN(cb_name)                                   \
    PPP_EXTERN panda_ppp_list ppp_##cb_name##_cbs;               \
    PPP_EXTERN panda_ppp_list ppp_##cb_name##_cbs_with_context

/* Calls every callback registered at `cb_name` with the arguments given. */
#define PPP_RUN_CB(cb_name, ...)                                                                 \
    do {                                                                                         \
        for (int ppp_i_ = 0; ppp_i_ < ppp_##cb_name##_cbs.count; ppp_i_++) {                     \
            cb_name##_t ppp_fn_ = (cb_name##_t)ppp_##cb_name##_cbs.entries[ppp_i_].fn;           \
            if (ppp_fn_ != NULL) {                                                               \
                ppp_fn_(__VA_ARGS__);                                                            \
            }                                                                                    \
        }                                                                                        \
        for (int ppp_i_ = 0; ppp_i_ < ppp_##cb_name##_cbs_with_context.count; ppp_i_++) {        \
            const panda_ppp_entry *ppp_e_ = &ppp_##cb_name##_cbs_with_context.entries[ppp_i_];   \
            cb_name##_with_context_t ppp_fn_ = (cb_name##_with_context_t)ppp_e_->fn;             \
            if (ppp_fn_ != NULL) {                                                               \
                ppp_fn_(ppp_e_->context __VA_OPT__(, ) __VA_ARGS__);                             \
            }                                                                                    \
        }                                                                                        \
    } while (0)

/* Whether anything is registered at `cb_name` (to skip work nobody wants). */
#define PPP_CHECK_CB(cb_name) \
    (ppp_##cb_name##_cbs.count > 0 || ppp_##cb_name##_cbs_with_context.count > 0)

/* ---- User ----------------------------------------------------------------- */

/* Registers / removes `cb_func` (of type cb_name##_t, checked) at plugin
 * `other_plugin`'s point `cb_name`. Errors are reported by the emulator
 * (see panda_ppp_register); inside init_plugin they make the plugin fail
 * to load. */
#define PPP_REG_CB(other_plugin, cb_name, cb_func)                                       \
    do {                                                                                 \
        cb_name##_t ppp_fn_ = (cb_func);                                                 \
        panda_ppp_register((other_plugin), #cb_name, (void (*)(void))ppp_fn_, NULL, false); \
    } while (0)

#define PPP_REG_CB_WITH_CONTEXT(other_plugin, cb_name, cb_func, context)                    \
    do {                                                                                    \
        cb_name##_with_context_t ppp_fn_ = (cb_func);                                       \
        panda_ppp_register((other_plugin), #cb_name, (void (*)(void))ppp_fn_, (context), true); \
    } while (0)

#define PPP_REMOVE_CB(other_plugin, cb_name, cb_func)                                  \
    do {                                                                               \
        cb_name##_t ppp_fn_ = (cb_func);                                               \
        panda_ppp_remove((other_plugin), #cb_name, (void (*)(void))ppp_fn_, NULL, false); \
    } while (0)

#define PPP_REMOVE_CB_WITH_CONTEXT(other_plugin, cb_name, cb_func, context)                \
    do {                                                                                   \
        cb_name##_with_context_t ppp_fn_ = (cb_func);                                      \
        panda_ppp_remove((other_plugin), #cb_name, (void (*)(void))ppp_fn_, (context), true); \
    } while (0)

/* A typed pointer to function `fn` exported by plugin `plugin`; `fn` must
 * be declared (the provider's API header), which gives the type. NULL on
 * error (see panda_import). */
#define PANDA_IMPORT(plugin, fn) ((__typeof__(&fn))panda_import((plugin), #fn))

#endif
