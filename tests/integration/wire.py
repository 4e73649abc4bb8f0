"""wire.py -- the protobuf wire format for the Python test peers.

The test clients send and read raw bytes so that they depend on none of
servicelogs' generated code; these are the few primitives they share.
"""


def varint(v):
    """v as a protobuf varint."""
    out = b""
    while True:
        c = v & 0x7F
        v >>= 7
        out += bytes([c | (0x80 if v else 0)])
        if not v:
            return out


def ld(n, s):
    """Length-delimited field n holding s (str or bytes)."""
    b = s.encode() if isinstance(s, str) else s
    return varint(n << 3 | 2) + varint(len(b)) + b


def request(project, service):
    """A packed QueryServiceLogsRequest."""
    return ld(1, project) + ld(2, service)


def fields(b):
    """(number, value) of a message's varint and length-delimited fields;
    other wire types raise ValueError."""
    i = 0

    def read_varint():
        nonlocal i
        v = shift = 0
        while True:
            c = b[i]
            i += 1
            v |= (c & 0x7F) << shift
            shift += 7
            if not c & 0x80:
                return v

    while i < len(b):
        key = read_varint()
        num, wt = key >> 3, key & 7
        if wt == 0:
            yield num, read_varint()
        elif wt == 2:
            n = read_varint()
            yield num, b[i:i + n]
            i += n
        else:
            raise ValueError("unexpected wire type %d" % wt)
