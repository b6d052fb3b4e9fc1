"""The canonical text of a Python value that PickleTests compares with (see make_corpus.py)."""
import struct


def canon(v):
    if v is None: return 'None'
    if v is True: return 'True'
    if v is False: return 'False'
    if isinstance(v, int): return 'i:%d' % v
    if isinstance(v, float): return 'f:%016x' % int.from_bytes(struct.pack('>d', v), 'big')
    if isinstance(v, str): return 's:' + v.encode('utf-8', 'surrogatepass').hex()
    if isinstance(v, bytearray): return 'ba:' + bytes(v).hex()
    if isinstance(v, bytes): return 'b:' + v.hex()
    if isinstance(v, list): return '[' + ','.join(canon(x) for x in v) + ']'
    if isinstance(v, tuple): return '(' + ','.join(canon(x) for x in v) + ')'
    if isinstance(v, dict): return '{' + ','.join(canon(k) + '=' + canon(x) for k, x in v.items()) + '}'
    if isinstance(v, frozenset): return 'fs<' + ','.join(sorted(canon(x) for x in v)) + '>'
    if isinstance(v, set): return 'set<' + ','.join(sorted(canon(x) for x in v)) + '>'
    if isinstance(v, BaseException):
        cls = type(v)
        state = canon(v.__dict__) if v.__dict__ else ''
        return 'obj:%s.%s%s%s' % (cls.__module__, cls.__qualname__, canon(v.args), state)
    raise TypeError(type(v))
