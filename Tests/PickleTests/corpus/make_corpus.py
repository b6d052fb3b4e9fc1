#!/usr/bin/env python3
"""Regenerates the seed corpus: ARQ payloads pickled by CPython through arq's own
serialize_job/serialize_result (pip install arq), plus hostile pickles that must be refused.

For each good seed NAME.pickle, NAME.expected holds canon(value) (below), which PickleTests
compares with the Swift decoder's view of the same bytes. Hostile seeds are named evil_*.
Run: python3 Tests/PickleTests/corpus/make_corpus.py  (from the repository root)."""
import asyncio, os, pickle, pickletools, sys
from arq.jobs import serialize_job, serialize_result
from arq.worker import JobExecutionFailed, Retry

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from canon import canon  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ET = 1767225600123  # 2026-01-01T00:00:00.123Z


def good(name, data):
    with open(os.path.join(HERE, name + '.pickle'), 'wb') as f:
        f.write(data)
    with open(os.path.join(HERE, name + '.expected'), 'w') as f:
        f.write(canon(pickle.loads(data)) + '\n')


def evil(name, data):
    with open(os.path.join(HERE, 'evil_' + name + '.pickle'), 'wb') as f:
        f.write(data)


# jobs, as the origin system's call sites enqueue them
good('job_delete_collection', serialize_job('delete_collection', ('docs_v1',), {'grace_period_minutes': 60}, None, ET))
good('job_persist_cache', serialize_job('persist_cache', (), {
    'key': 'search:7f3a', 'value': {'hits': [1, 2, 3], 'score': 0.875, 'query': 'héllo wörld ✓'},
    'persist_func_module': 'src.services.cache.store', 'persist_func_name': 'persist', 'delay': 1.0}, None, ET))
shared = ['alias-a', 'alias-b']
good('job_canary', serialize_job('run_canary_deployment', ('dep-0001', {
    'alias': 'docs', 'old_collection': 'docs_v1', 'new_collection': 'docs_v2',
    'stages': [{'percentage': 5, 'duration_minutes': 30}, {'percentage': 25, 'duration_minutes': 60},
               {'percentage': 100, 'duration_minutes': 0}],
    'error_threshold': 0.05, 'latency_threshold': 200.0, 'nan': float('nan'), 'inf': float('-inf'),
    'ints': [0, 1, -1, 255, 256, 65535, 65536, -65536, 2**31 - 1, -2**31, 2**31, 2**63 - 1, -2**63, 2**63, -2**63 - 1,
             2**64, 10**40, -10**40],
    'aliases': shared, 'aliases_again': shared,       # the memo shares one list
    'blob': b'\x00\x01\xfe\xff', 'big_blob': bytes(range(256)) * 2, 'long_text': 'x' * 300,
    'nested': ((1, 2), (3,), (), (4, 5, 6, 7)), 'empty': {}, 'none': None, 't': True, 'f': False,
    'set': {1, 2}, 'frozen': frozenset({'a'}), 1: 'int key', None: 'none key'},
    True), {}, 2, ET))

# results, as arq's worker writes them
args = ('docs_v1',)
kw = {'grace_period_minutes': 60}
good('result_success', serialize_result('delete_collection', args, kw, 1, ET, True,
     {'status': 'success', 'collection': 'docs_v1', 'duration': 0.25}, ET + 10, ET + 260, 'r', 'arq:queue', 'job-ok'))
good('result_value_error', serialize_result('delete_collection', args, kw, 1, ET, False,
     ValueError('boom'), ET + 10, ET + 20, 'r', 'arq:queue', 'job-err'))
good('result_max_tries', serialize_result('delete_collection', args, kw, 4, ET, False,
     JobExecutionFailed('max 3 retries exceeded'), ET + 10, ET + 20, 'r', 'arq:queue', 'job-max'))
good('result_cancelled', serialize_result('delete_collection', args, kw, 1, ET, False,
     asyncio.CancelledError(), ET + 10, ET + 20, 'r', 'arq:queue', 'job-abort'))
good('result_timeout', serialize_result('delete_collection', args, kw, 1, ET, False,
     asyncio.TimeoutError(), ET + 10, ET + 20, 'r', 'arq:queue', 'job-timeout'))
good('result_retry_state', serialize_result('persist_cache', (), {}, 1, ET, False,
     Retry(defer=5), ET + 10, ET + 20, 'r', 'arq:queue', 'job-retry'))
good('result_key_error', serialize_result('persist_cache', (), {}, 1, ET, False,
     KeyError('missing', 2), ET + 10, ET + 20, 'r', 'arq:queue', 'job-key'))
# other protocols Python may use
data = {'t': 1, 'f': 'persist_cache', 'a': (bytearray(b'ab'),), 'k': {}, 'et': ET}
good('job_protocol5', pickle.dumps(data, protocol=5))
good('job_protocol2', pickle.dumps({'t': None, 'f': 'x', 'a': ('y', 1.5), 'k': {}, 'et': ET}, protocol=2))

# hostile: anything that imports or calls
evil('os_system_global', b"cos\nsystem\n(S'echo pwned'\ntR.")
evil('os_system_stack_global', b'\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x00\x8c\x05posix\x8c\x06system\x93\x8c\necho pwned\x85R.')


class Evil:
    def __reduce__(self):
        return (os.system, ('echo pwned',))


evil('reduce_class', pickle.dumps(Evil(), protocol=4))
evil('eval_in_job', pickle.dumps({'t': None, 'f': 'x', 'a': (Evil(),), 'k': {}, 'et': ET}, protocol=4))


class Plain:
    def __init__(self):
        self.x = 1


evil('newobj', pickle.dumps(Plain(), protocol=4))
evil('inst', b'(i__main__\nPlain\n(dp0\nb.')
evil('obj', b'\x80\x02(c__main__\nPlain\no.')
evil('build_on_dict', b'\x80\x04}(\x8c\x01a\x8c\x01b}b.')
evil('reduce_on_allowed_with_list', b'\x80\x04\x8c\x08builtins\x8c\nValueError\x93]R.')
evil('builtins_eval', b'\x80\x04\x8c\x08builtins\x8c\x04eval\x93\x8c\x0f__import__("os")\x85R.')
evil('persid', b'\x80\x04\x8c\x01xQ.')
evil('ext', b'\x80\x04\x82\x01.')
evil('recursive_list', b'\x80\x04]\x94h\x00a.')
evil('custom_exception', b'\x80\x04\x8c\x08__main__\x8c\x05MyErr\x93)R.')

if __name__ == '__main__' and '-v' in sys.argv:
    pickletools.dis(open(os.path.join(HERE, 'result_retry_state.pickle'), 'rb').read())
