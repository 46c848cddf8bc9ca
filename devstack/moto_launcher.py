"""Runs moto server on a free loopback port for as long as our parent keeps our stdin open.

Prints the endpoint URL on the first line of stdout. When the parent exits (even if it is killed), stdin
closes and the server stops, so a test run never leaves an emulator behind.
"""
import copy
import sys
import threading

import moto.dynamodb.models as dynamodb_models
from moto.dynamodb.models.table import Table
from moto.server import ThreadedMotoServer

# moto's TransactWriteItems deep-copies the whole table once per action (for its rollback) before running
# any: a 100-action transaction copied a test's table 100 times (seconds, past the SDK's 2 s attempt
# timeout). The copies are identical, so one per table per transaction is the same rollback.
_transaction = threading.local()


class _CopyTableOncePerTransaction:
    @staticmethod
    def deepcopy(obj):
        copies = getattr(_transaction, "copies", None)
        if copies is None or not isinstance(obj, Table):
            return copy.deepcopy(obj)
        if id(obj) not in copies:
            copies[id(obj)] = (obj, copy.deepcopy(obj))
        return copies[id(obj)][1]


_transact_write_items = dynamodb_models.DynamoDBBackend.transact_write_items


def _transact_write_items_copying_once(self, transact_items):
    _transaction.copies = {}
    try:
        return _transact_write_items(self, transact_items)
    finally:
        _transaction.copies = None


dynamodb_models.DynamoDBBackend.transact_write_items = _transact_write_items_copying_once
dynamodb_models.copy = _CopyTableOncePerTransaction

server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
host, port = server.get_host_and_port()
print(f"http://{host}:{port}", flush=True)
sys.stdin.read()
server.stop()
