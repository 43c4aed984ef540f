/*
 * hypanda-hypercall: the guest's way to ask the host for an action, an I/O
 * port read with the command in registers (include/panda/hypercall.h). It
 * works the same under TCG and KVM: the read reaches this handler on the
 * vCPU thread either way, after the vCPU's registers are synchronised.
 *
 * The host decides what a guest may ask: `allow` names the classes of
 * commands the device carries out, joined with '+' (default "switch";
 * "none" refuses all but the engine queries): "switch" for engine switches,
 * which need hybrid mode (hybrid.c; without it a switch answers
 * HYPANDA_HC_ERR_UNAVAILABLE and the guest carries on) except LLVM mode on
 * and off (llvm/engine.c; under KVM, LLVM on takes the guest to TCG first), "record" for
 * bracketing a region to record into the folder `record` names (the
 * recorder, tcg-instrument/rr/system/, offers itself through
 * hypanda_hypercall_set_recorder: this layer does not call up into it).
 *
 *   -device hypanda-hypercall[,iobase=0x5848][,allow=switch|record|none][,record=DIR]
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/module.h"
#include "qom/object.h"
#include "hw/isa/isa.h"
#include "hw/qdev-properties.h"
#include "sysemu/hw_accel.h"
#include "sysemu/kvm.h"
#include "cpu.h"

#include "hypanda/hypervisor/hybrid.h"
#include "hypanda/llvm/engine.h"
#include "hypanda/hypervisor/hypercall_device.h"
#include "hypanda/include/panda/hypercall.h"

#define TYPE_HYPANDA_HYPERCALL "hypanda-hypercall"
OBJECT_DECLARE_SIMPLE_TYPE(HypercallState, HYPANDA_HYPERCALL)

/* Classes of commands the host may allow. */
enum {
    ALLOW_SWITCH = 1 << 0,
    ALLOW_RECORD = 1 << 1,
};

struct HypercallState {
    ISADevice parent_obj;
    uint32_t iobase;
    char *allow_text;
    uint32_t allow;
    char *record_dir;
    MemoryRegion io;
};

static HypercallState *the_device;
static const HypandaRecorder *recorder;

void hypanda_hypercall_set_recorder(const HypandaRecorder *r)
{
    recorder = r;
}

static uint32_t do_switch(HypercallState *s, int engine)
{
    if (!(s->allow & ALLOW_SWITCH)) {
        return HYPANDA_HC_ERR_FORBIDDEN;
    }
    if (!hypanda_hybrid_enabled()) {
        return HYPANDA_HC_ERR_UNAVAILABLE;
    }
    /* Under KVM the switch happens before the guest's next instruction,
     * under TCG at the end of the current block. */
    return hypanda_hybrid_request(engine, "hypercall") == NULL ? HYPANDA_HC_OK
                                                              : HYPANDA_HC_ERR_UNAVAILABLE;
}

static uint32_t do_llvm(HypercallState *s, bool on)
{
    if (!(s->allow & ALLOW_SWITCH)) {
        return HYPANDA_HC_ERR_FORBIDDEN;
    }
    if (on && hypanda_hybrid_enabled() && hypanda_hybrid_engine() == HYPANDA_ENGINE_KVM &&
        hypanda_hybrid_request(HYPANDA_ENGINE_TCG, "hypercall") != NULL) {
        return HYPANDA_HC_ERR_UNAVAILABLE;
    }
    hypanda_llvm_request(on);
    return HYPANDA_HC_OK;
}

static uint32_t execute(HypercallState *s, CPUX86State *env)
{
    if ((uint32_t)env->regs[R_EAX] != HYPANDA_HC_MAGIC) {
        return HYPANDA_HC_ERR_BAD_MAGIC;
    }
    switch ((uint32_t)env->regs[R_EBX]) {
    case HYPANDA_HC_QUERY_ENGINE:
        return hypanda_hybrid_engine();
    case HYPANDA_HC_SWITCH_TO_TCG:
        return do_switch(s, HYPANDA_ENGINE_TCG);
    case HYPANDA_HC_SWITCH_TO_KVM:
        return do_switch(s, HYPANDA_ENGINE_KVM);
    case HYPANDA_HC_LLVM_ON:
        return do_llvm(s, true);
    case HYPANDA_HC_LLVM_OFF:
        return do_llvm(s, false);
    case HYPANDA_HC_QUERY_LLVM:
        return hypanda_llvm_enabled();
    case HYPANDA_HC_BEGIN_RECORD:
    case HYPANDA_HC_END_RECORD:
        if (!(s->allow & ALLOW_RECORD) || s->record_dir == NULL) {
            return HYPANDA_HC_ERR_FORBIDDEN;
        }
        if (recorder == NULL) {
            return HYPANDA_HC_ERR_UNAVAILABLE;
        }
        if ((uint32_t)env->regs[R_EBX] == HYPANDA_HC_BEGIN_RECORD) {
            return recorder->begin(s->record_dir) ? HYPANDA_HC_OK : HYPANDA_HC_ERR_UNAVAILABLE;
        }
        return recorder->end();
    default:
        return HYPANDA_HC_ERR_UNKNOWN;
    }
}

static uint64_t hypercall_read(void *opaque, hwaddr addr, unsigned size)
{
    HypercallState *s = opaque;
    if (current_cpu == NULL || size != 4) {
        return HYPANDA_HC_ERR_BAD_MAGIC;
    }
    /* Under KVM the registers are still in the kernel. Once fetched, they
     * are written back before the guest runs again, over the completion of
     * this IN on some KVMs: so the result goes into EAX here as well (IN
     * EAX zero-extends into RAX). */
    cpu_synchronize_state(current_cpu);
    CPUX86State *env = &X86_CPU(current_cpu)->env;
    uint32_t result = execute(s, env);
    env->regs[R_EAX] = result;
    return result;
}

static void hypercall_write(void *opaque, hwaddr addr, uint64_t val, unsigned size)
{
    /* Writes carry nothing: commands are reads. */
}

static const MemoryRegionOps hypercall_ops = {
    .read = hypercall_read,
    .write = hypercall_write,
    .valid.min_access_size = 1,
    .valid.max_access_size = 4,
    .endianness = DEVICE_LITTLE_ENDIAN,
};

/* "switch", "none", or classes joined with '+'. */
static bool parse_allow(const char *text, uint32_t *allow, Error **errp)
{
    *allow = 0;
    if (strcmp(text, "none") == 0) {
        return true;
    }
    g_auto(GStrv) words = g_strsplit(text, "+", -1);
    for (char **w = words; *w != NULL; w++) {
        if (strcmp(*w, "switch") == 0) {
            *allow |= ALLOW_SWITCH;
        } else if (strcmp(*w, "record") == 0) {
            *allow |= ALLOW_RECORD;
        } else {
            error_setg(errp, "hypanda-hypercall: allow=%s: unknown command class '%s' "
                       "(known: switch, record, or none)", text, *w);
            return false;
        }
    }
    return true;
}

static void hypercall_realize(DeviceState *dev, Error **errp)
{
    HypercallState *s = HYPANDA_HYPERCALL(dev);
    if (the_device != NULL) {
        error_setg(errp, "hypanda-hypercall: only one such device per machine");
        return;
    }
    if (!parse_allow(s->allow_text ? s->allow_text : "switch", &s->allow, errp)) {
        return;
    }
    memory_region_init_io(&s->io, OBJECT(dev), &hypercall_ops, s, TYPE_HYPANDA_HYPERCALL, 4);
    memory_region_add_subregion(isa_address_space_io(ISA_DEVICE(dev)), s->iobase, &s->io);
    the_device = s;
}

static Property hypercall_properties[] = {
    DEFINE_PROP_UINT32("iobase", HypercallState, iobase, HYPANDA_HC_PORT),
    DEFINE_PROP_STRING("allow", HypercallState, allow_text),
    DEFINE_PROP_STRING("record", HypercallState, record_dir),
    DEFINE_PROP_END_OF_LIST(),
};

static void hypercall_class_init(ObjectClass *klass, void *data)
{
    DeviceClass *dc = DEVICE_CLASS(klass);
    dc->realize = hypercall_realize;
    dc->desc = "Hypanda guest hypercalls (engine switches, recording)";
    dc->user_creatable = true;
    device_class_set_props(dc, hypercall_properties);
    set_bit(DEVICE_CATEGORY_MISC, dc->categories);
}

static const TypeInfo hypercall_info = {
    .name = TYPE_HYPANDA_HYPERCALL,
    .parent = TYPE_ISA_DEVICE,
    .instance_size = sizeof(HypercallState),
    .class_init = hypercall_class_init,
};

static void hypercall_register_types(void)
{
    type_register_static(&hypercall_info);
}

type_init(hypercall_register_types)

