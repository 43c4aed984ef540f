#!/usr/bin/env python3
"""Generates syscalls2's system-call tables from the Linux kernel's source.

    gen-syscalls2.py LINUX_SOURCE_TAR_XZ KERNEL_CONFIG OUT_HEADER OUT_SOURCE

Reads, from Debian's linux-source tarball, the kernel's own x86 system-call
tables (arch/x86/entry/syscalls/syscall_64.tbl and syscall_32.tbl: number,
ABI, name, entry point) and the prototypes of those entry points from their
definitions (SYSCALL_DEFINEn and COMPAT_SYSCALL_DEFINEn in the x86 and
generic sources), keeping the definitions the kernel's configuration
(KERNEL_CONFIG, Debian's amd64 .config) compiles. Writes:

  OUT_HEADER  the PPP callback types users register with: on_sys_<name>_enter
              and on_sys_<name>_return for every call, typed from its
              prototype (see plugins/syscalls2/README.md);
  OUT_SOURCE  the callback points and, per ABI, a table indexed by number
              with each call's name, arguments (C type, name, kind) and the
              functions that run its callbacks.

Nothing here is specific to one call: what a call takes comes from the
kernel's definition of it.
"""
import re
import sys
import tarfile

# ---- Reading the source ---------------------------------------------------------

def read_config(path):
    enabled = set()
    with open(path) as f:
        for line in f:
            m = re.match(r'(CONFIG_\w+)=(y|m)', line)
            if m:
                enabled.add(m.group(1))
    return enabled


def strip_comments(text):
    text = re.sub(r'/\*.*?\*/', lambda m: '\n' * m.group(0).count('\n'), text, flags=re.S)
    return re.sub(r'//[^\n]*', '', text)


def known(symbol, config):
    """Whether `symbol` is defined: True/False for CONFIG_ symbols and the
    x86 __ARCH_WANT_ ones (both in `config`), None for anything else."""
    if symbol in config:
        return True
    return False if symbol.startswith(('CONFIG_', '__ARCH_WANT_')) else None


def eval_condition(expr, config):
    """Value of a #if/#elif expression, or None when it uses a macro whose
    value is unknown (then the branch is kept)."""
    e = re.sub(r'IS_ENABLED\s*\(\s*(\w+)\s*\)', r'defined(\1)', expr)
    e = re.sub(r'IS_BUILTIN\s*\(\s*(\w+)\s*\)', r'defined(\1)', e)
    unknown = []

    def value(m):
        v = known(m.group(1) or m.group(2), config)
        if v is None:
            unknown.append(m.group(0))
        return '1' if v else '0'
    e = re.sub(r'defined\s*\(\s*(\w+)\s*\)|defined\s+(\w+)', value, e)
    if unknown:
        return None
    e = e.replace('&&', ' and ').replace('||', ' or ')
    e = re.sub(r'!(?!=)', ' not ', e)
    if re.search(r'[A-Za-z_]\w*', re.sub(r'\b(and|or|not)\b', '', e)):
        return None  # a macro we do not know
    try:
        return bool(eval(e, {}, {}))
    except Exception:
        return None


def active_text(text, config):
    """`text` with the lines of #if branches the configuration excludes blanked."""
    out = []
    stack = []  # (this branch active, some branch taken, parent active)
    active = True
    for line in text.split('\n'):
        s = line.strip()
        m = re.match(r'#\s*(ifdef|ifndef|if|elif|else|endif)\b(.*)', s)
        if not m:
            out.append(line if active else '')
            continue
        kind, rest = m.group(1), m.group(2).strip()
        if kind in ('ifdef', 'ifndef', 'if'):
            if kind == 'ifdef':
                value = known(rest.split()[0], config)
            elif kind == 'ifndef':
                value = known(rest.split()[0], config)
                value = None if value is None else not value
            else:
                value = eval_condition(rest, config)
            take = value is not False
            stack.append((active, take))
            active = active and take
        elif kind == 'elif' and stack:
            parent, taken = stack[-1]
            value = eval_condition(rest, config)
            take = not taken and value is not False
            stack[-1] = (parent, taken or take)
            active = parent and take
        elif kind == 'else' and stack:
            parent, taken = stack[-1]
            stack[-1] = (parent, True)
            active = parent and not taken
        elif kind == 'endif' and stack:
            active = stack.pop()[0]
        out.append('')
    return '\n'.join(out)


DEFINE = re.compile(r'\b(COMPAT_)?SYSCALL_DEFINE(\d)\s*\(\s*(\w+)\s*((?:,[^()]*?(?:\([^()]*\)[^()]*?)*)?)\)', re.S)


def parse_definitions(text):
    """(compat, name, [(ctype, argname)]) for each definition in `text`."""
    # A 64-bit argument of a 32-bit call comes in two registers, low half
    # first (x86 is little-endian).
    text = re.sub(r'\b(?:SC_ARG64|compat_arg_u64_dual)\s*\(\s*(\w+)\s*\)', r'u32, \1_lo, u32, \1_hi', text)
    for m in DEFINE.finditer(text):
        compat, n, name, rest = bool(m.group(1)), int(m.group(2)), m.group(3), m.group(4)
        parts = [p.strip() for p in rest.split(',')[1:]] if rest.strip() else []
        parts = [re.sub(r'\s+', ' ', p) for p in parts]
        if len(parts) != 2 * n:
            continue  # a macro's own definition, not a system call
        yield compat, name, [(parts[2 * i], parts[2 * i + 1]) for i in range(n)]


def read_source(tar_path, config):
    """The tables, the definitions (native and compat: name -> (args, in
    arch/x86, path)) and the calls kernel/sys_ni.c routes to sys_ni_syscall
    when not built. The tarball is read in one pass, in its order; x86's
    unistd.h (which says which optional calls x86 wants) comes before the
    sources under fs/, kernel/, mm/, ... but after nothing it affects."""
    tables = {}
    native, compat = {}, {}
    not_built = set()
    sources = []
    with tarfile.open(tar_path, 'r|xz') as tf:
        for member in tf:
            if not member.isfile():
                continue
            path = member.name.split('/', 1)[-1]
            if path in ('arch/x86/entry/syscalls/syscall_64.tbl', 'arch/x86/entry/syscalls/syscall_32.tbl'):
                tables[path.rsplit('/', 1)[-1]] = tf.extractfile(member).read().decode()
                continue
            if path == 'arch/x86/include/asm/unistd.h':
                text = active_text(strip_comments(tf.extractfile(member).read().decode()), config)
                config |= set(re.findall(r'#\s*define\s+(__ARCH_WANT_\w+)', text))
                continue
            if path == 'kernel/sys_ni.c':
                text = tf.extractfile(member).read().decode()
                not_built |= set(re.findall(r'\bCOND_SYSCALL\s*\(\s*(\w+)\s*\)', text))
                not_built |= {'compat:' + n for n in re.findall(r'\bCOND_SYSCALL_COMPAT\s*\(\s*(\w+)\s*\)', text)}
                continue
            if not path.endswith('.c'):
                continue
            if path.startswith('arch/') and not path.startswith('arch/x86/'):
                continue
            if path.startswith(('tools/', 'samples/', 'Documentation/')):
                continue
            data = tf.extractfile(member).read()
            if b'SYSCALL_DEFINE' in data:
                sources.append((path, data))
    # Parsed after the whole pass, so that unistd.h's wishes are known.
    for path, data in sources:
        text = active_text(strip_comments(data.decode('utf-8', 'replace')), config)
        x86 = path.startswith('arch/x86/')
        for is_compat, name, args in parse_definitions(text):
            table = compat if is_compat else native
            # The x86 definition wins over a generic one.
            if name not in table or (x86 and not table[name][1]):
                table[name] = (args, x86, path)
    return tables, native, compat, not_built


def read_table(text, abis):
    """(number, name, entry point) for rows of the given ABIs; i386 rows use
    the compat entry point when there is one (what an x86_64 kernel runs)."""
    rows = []
    for line in text.split('\n'):
        line = line.split('#', 1)[0].split()
        if len(line) < 3 or line[1] not in abis:
            continue
        entry = line[4] if len(line) > 4 else (line[3] if len(line) > 3 else 'sys_ni_syscall')
        rows.append((int(line[0]), line[2], entry))
    return rows

# ---- Types ---------------------------------------------------------------------

SIGNED_32 = {'int', 'pid_t', 'key_serial_t', 'clockid_t', 'timer_t', 'mqd_t', 'compat_int_t',
             'compat_pid_t', 'compat_timer_t', 'compat_clockid_t', 'rwf_t', 'qid_t', 'int32_t',
             's32', '__s32', 'compat_key_t'}
SIGNED_64 = {'long', 'off_t', 'loff_t', 'compat_long_t', 'compat_off_t', 'compat_loff_t',
             'compat_arg_u64', 'compat_ssize_t', 'ssize_t', '__kernel_old_time_t', 'time_t'}
UNSIGNED_64 = {'unsigned long', 'size_t', 'u64', '__u64', 'uint64_t', 'aio_context_t',
               'compat_size_t', 'cap_user_header_t', 'cap_user_data_t', 'compat_uptr_t',
               'compat_ulong_t', 'compat_aio_context_t', 'unsigned long long', 'long long'}


def classify(ctype, name, args, index):
    """(C type for the callback, kind) of one argument. Kinds: str (a NUL-
    terminated string), buf_in (bytes the call reads, length in the next
    argument), buf_out (bytes the call writes, length its return value),
    ptr (any other pointer), int (a signed integer), uint."""
    t = re.sub(r'\b(const|volatile|__user|struct|union|enum)\b', ' ', ctype)
    t = re.sub(r'\s+', ' ', t).strip()
    if '*' in ctype:
        base = t.replace('*', '').strip()
        if base == 'char' and ctype.count('*') == 1:
            has_count = index + 1 < len(args) and re.search(r'(count|len|size|siz|nbytes)$', args[index + 1][1])
            if 'const' in ctype:
                return 'target_ulong', 'buf_in' if has_count else 'str'
            return 'target_ulong', 'buf_out' if has_count else 'ptr'
        return 'target_ulong', 'ptr'
    if t in ('compat_uptr_t',) or t.endswith('_user_t'):
        return 'target_ulong', 'ptr'
    if t in SIGNED_32:
        return 'int32_t', 'int'
    if t in SIGNED_64 or t == 'long int':
        return 'int64_t', 'int'
    if t in UNSIGNED_64:
        return 'uint64_t', 'uint'
    if t.startswith('unsigned long'):
        return 'uint64_t', 'uint'
    # unsigned int, u32, umode_t, uid_t, gid_t, old_uid_t, compat_mode_t, ...
    # and the rest: at most 32 bits (the syscall ABI passes them zero-extended)
    return 'uint32_t', 'uint'

# ---- Output ----------------------------------------------------------------------

def c_string(s):
    return '"' + s.replace('\\', '\\\\').replace('"', '\\"') + '"'


def generate(tables, native, compat, not_built):
    abis = {
        'x86_64': read_table(tables['syscall_64.tbl'], ('common', '64')),
        'i386': read_table(tables['syscall_32.tbl'], ('i386',)),
    }
    callbacks = {}  # callback name -> [callback C types]
    entries = {}    # abi -> number -> (name, callback, [(ctype, argname, cbtype, kind)])
    missing = []
    for abi, rows in abis.items():
        entries[abi] = {}
        for number, name, entry in rows:
            if entry in ('sys_ni_syscall', 'compat_sys_ni_syscall'):
                args = []
            else:
                table = compat if entry.startswith('compat_sys_') else native
                key = entry[len('compat_sys_'):] if entry.startswith('compat_sys_') else entry[len('sys_'):]
                if key not in table and ('compat:' + key if table is compat else key) in not_built:
                    table = {key: ([], False, 'kernel/sys_ni.c')}  # not built: sys_ni_syscall
                if key not in table:
                    missing.append(f'{abi} {number} {name} ({entry})')
                    continue
                args = table[key][0]
            typed = []
            for i, (ctype, argname) in enumerate(args):
                cbtype, kind = classify(ctype, argname, args, i)
                typed.append((ctype, argname, cbtype, kind))
            signature = [t[2] for t in typed]
            cb = name
            if cb in callbacks and callbacks[cb] != signature:
                cb = name + '_i386'  # an i386 call the x86_64 call of its name types differently
            callbacks.setdefault(cb, signature)
            entries[abi][number] = (name, cb, typed)
    if missing:
        sys.stderr.write('gen-syscalls2: no definition found for: ' + ', '.join(missing) + '\n')
        sys.exit(1)
    return callbacks, entries


def write_header(path, callbacks):
    with open(path, 'w') as f:
        f.write('/* Generated by plugins/syscalls2/gen-syscalls2.py from the Linux kernel\'s\n'
                ' * source (its x86 system-call tables and SYSCALL_DEFINE prototypes): the\n'
                ' * PPP callback types of syscalls2. Do not edit. */\n'
                '#ifndef HYPANDA_SYSCALLS2_PPP_H\n#define HYPANDA_SYSCALLS2_PPP_H\n\n'
                '#include <panda/plugin_plugin.h>\n\n'
                '/* Every call, before it runs / when it has returned (RETVAL then\n'
                ' * holds its result); callno is the number in the ABI it was made in. */\n'
                'PPP_CB_TYPEDEF(void, on_all_sys_enter, CPUState *cpu, target_ulong pc, target_ulong callno);\n'
                'PPP_CB_TYPEDEF(void, on_all_sys_return, CPUState *cpu, target_ulong pc, target_ulong callno);\n'
                '/* A number no table names. */\n'
                'PPP_CB_TYPEDEF(void, on_unknown_sys_enter, CPUState *cpu, target_ulong pc, target_ulong callno);\n'
                'PPP_CB_TYPEDEF(void, on_unknown_sys_return, CPUState *cpu, target_ulong pc, target_ulong callno);\n'
                'PPP_PROT_REG_CB(on_all_sys_enter);\nPPP_PROT_REG_CB(on_all_sys_return);\n'
                'PPP_PROT_REG_CB(on_unknown_sys_enter);\nPPP_PROT_REG_CB(on_unknown_sys_return);\n\n')
        for cb in sorted(callbacks):
            params = ''.join(f', {t}' for t in callbacks[cb])
            for when in ('enter', 'return'):
                f.write(f'PPP_CB_TYPEDEF(void, on_sys_{cb}_{when}, CPUState *cpu, target_ulong pc{params});\n'
                        f'PPP_PROT_REG_CB(on_sys_{cb}_{when});\n')
        f.write('\n#endif\n')


def write_source(path, callbacks, entries):
    with open(path, 'w') as f:
        f.write('// Generated by plugins/syscalls2/gen-syscalls2.py. Do not edit.\n'
                '#include "syscalls2_table.h"\n\n'
                'PPP_CB_BOILERPLATE(on_all_sys_enter)\nPPP_CB_BOILERPLATE(on_all_sys_return)\n'
                'PPP_CB_BOILERPLATE(on_unknown_sys_enter)\nPPP_CB_BOILERPLATE(on_unknown_sys_return)\n')
        for cb in sorted(callbacks):
            f.write(f'PPP_CB_BOILERPLATE(on_sys_{cb}_enter)\nPPP_CB_BOILERPLATE(on_sys_{cb}_return)\n')
        f.write('\nnamespace {\n\n')
        for cb in sorted(callbacks):
            types = callbacks[cb]
            call = ''.join(f', ({t})a[{i}]' for i, t in enumerate(types))
            for when in ('enter', 'return'):
                f.write(f'void run_{cb}_{when}(CPUState *cpu, target_ulong pc, const uint64_t *a) {{\n'
                        f'    (void)a;\n'
                        f'    if (PPP_CHECK_CB(on_sys_{cb}_{when})) PPP_RUN_CB(on_sys_{cb}_{when}, cpu, pc{call});\n}}\n')
        f.write('\n}  // namespace\n\n')
        for abi, table in entries.items():
            size = max(table) + 1
            f.write(f'const syscalls2::Call syscalls2::{abi}_calls[{size}] = {{\n')
            for number in range(size):
                if number not in table:
                    f.write('    {},\n')
                    continue
                name, cb, typed = table[number]
                args = ', '.join('{%s, %s, syscalls2::ArgKind::k%s, %s}' % (
                    c_string(ctype), c_string(argname), kind.replace('_', '').capitalize(),
                    {'int32_t': 32, 'uint32_t': 32}.get(cbtype, 64)) for ctype, argname, cbtype, kind in typed)
                f.write(f'    {{{c_string(name)}, {len(typed)}, {{{args}}}, run_{cb}_enter, run_{cb}_return}},\n')
            f.write('};\n')
            f.write(f'const int syscalls2::{abi}_count = {size};\n\n')


def main():
    if len(sys.argv) != 5:
        sys.stderr.write(__doc__)
        sys.exit(2)
    source, config_path, header, out = sys.argv[1:]
    config = read_config(config_path)
    tables, native, compat, not_built = read_source(source, config)
    for t in ('syscall_64.tbl', 'syscall_32.tbl'):
        if t not in tables:
            sys.stderr.write(f'gen-syscalls2: {source} has no arch/x86/entry/syscalls/{t}\n')
            sys.exit(1)
    callbacks, entries = generate(tables, native, compat, not_built)
    write_header(header, callbacks)
    write_source(out, callbacks, entries)


if __name__ == '__main__':
    main()
