#!/usr/bin/env python3
"""Moves the Worker's function names out of the upload.

  wasm_names.py strip WASM NAMES   writes WASM's function names to NAMES ("index<TAB>name" per
                                   line) and rewrites WASM without its `name` section
  wasm_names.py lookup NAMES N...  the names of functions N... (as in "wasm-function[N]")

worker-build keeps the `name` custom section so that a stack trace names Rust functions. It
is about a tenth of the gzipped upload, which Cloudflare's free plan caps at 3 MB and every
cold start loads. The names stay beside the build (build/index_bg.wasm.names, never uploaded:
wrangler uploads what build/index.js imports), so a trace from production, whose frames read
`wasm-function[N]`, is read with `lookup`.

Only the one section is removed, byte for byte: everything else in the module is copied as it
was. Anything that does not parse as a wasm module fails, leaving both files untouched.
"""
import os
import sys

MAGIC = b"\0asm\x01\0\0\0"


class Malformed(Exception):
    pass


def leb(data, i):
    """An unsigned LEB128 at data[i:], and the index after it."""
    result = shift = 0
    while True:
        if i >= len(data) or shift > 35:
            raise Malformed(f"a truncated or overlong LEB128 at byte {i}")
        byte = data[i]
        i += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return result, i


def sections(data):
    """(id, custom-section name or None, start, body start, end) for each section."""
    if not data.startswith(MAGIC):
        raise Malformed("not a wasm module (version 1)")
    i = len(MAGIC)
    while i < len(data):
        start = i
        sid = data[i]
        size, body = leb(data, i + 1)
        end = body + size
        if end > len(data):
            raise Malformed(f"section {sid} at byte {start} runs past the end")
        name = None
        if sid == 0:
            n, j = leb(data, body)
            name = data[j : j + n].decode("utf-8", "replace")
        yield sid, name, start, body, end
        i = end


def function_names(section):
    """The function-names subsection (id 1) of a `name` section's payload."""
    n, i = leb(section, 0)
    i += n  # the section's own name, "name"
    names = []
    while i < len(section):
        sub = section[i]
        size, body = leb(section, i + 1)
        if sub == 1:
            count, j = leb(section, body)
            for _ in range(count):
                index, j = leb(section, j)
                length, j = leb(section, j)
                names.append((index, section[j : j + length].decode("utf-8", "replace")))
                j += length
        i = body + size
    return names


def strip(wasm, names_out):
    with open(wasm, "rb") as f:
        data = f.read()
    kept = bytearray(MAGIC)
    names = None
    for sid, name, start, body, end in sections(data):
        if sid == 0 and name == "name":
            names = function_names(data[body:end])
        else:
            kept += data[start:end]
    if names is None:
        raise Malformed(f"{wasm} has no name section (already stripped?)")
    # Both written to temporary files first, then renamed: an interrupted run leaves the build
    # as worker-build made it.
    with open(names_out + ".tmp", "w", encoding="utf-8") as f:
        for index, name in names:
            f.write(f"{index}\t{name}\n")
    with open(wasm + ".tmp", "wb") as f:
        f.write(kept)
    os.replace(names_out + ".tmp", names_out)
    os.replace(wasm + ".tmp", wasm)
    print(f"{wasm}: {len(data)} -> {len(kept)} bytes; {len(names)} function names in {names_out}")


def lookup(names_file, indices):
    wanted = {int(n.strip("wasm-function[]")) for n in indices}
    with open(names_file, encoding="utf-8") as f:
        for line in f:
            index, _, name = line.rstrip("\n").partition("\t")
            if int(index) in wanted:
                print(f"wasm-function[{index}]\t{name}")


def main(argv):
    try:
        if len(argv) == 3 and argv[0] == "strip":
            strip(argv[1], argv[2])
        elif len(argv) >= 3 and argv[0] == "lookup":
            lookup(argv[1], argv[2:])
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except (Malformed, OSError, ValueError) as e:
        print(f"wasm_names.py: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
