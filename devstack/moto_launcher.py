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

# moto's TransactWriteItems deep-copies every table it touches before running the actions, and rolls a
# cancelled transaction back by putting those copies in place. That costs a copy of the whole table per
# transaction (seconds for a big table, past the SDK's 2 s attempt timeout), a copy taken while another request
# writes fails with a 500, and the rollback loses every write other requests made meanwhile. DynamoDB rolls back
# only the transaction's own items; so does this: the items the actions name are copied first, restored if the
# transaction fails, and the tables are not copied at all.
_transaction = threading.local()


class _NoTableCopy:
    @staticmethod
    def deepcopy(obj):
        if getattr(_transaction, "active", False) and isinstance(obj, Table):
            return obj
        return copy.deepcopy(obj)


def _touched_items(backend, transact_items):
    touched = []
    for action in transact_items:
        op_type, op = next(iter(action.items()))
        table = backend.tables.get(op.get("TableName"))
        if table is None:
            continue
        key = op.get("Item") if op_type == "Put" else op.get("Key")
        try:
            hash_value, range_value = backend.get_keys_value(table, key or {})
        except Exception:
            continue  # moto refuses the action itself, with its own error
        item = table.get_item(hash_value, range_value)
        touched.append((table, hash_value, range_value, copy.deepcopy(item)))
    return touched


def _restore(touched):
    for table, hash_value, range_value, item in reversed(touched):
        if item is None:
            table.delete_item(hash_value, range_value)
        elif range_value is not None:
            table.items[hash_value][range_value] = item
        else:
            table.items[hash_value] = item


_transact_write_items = dynamodb_models.DynamoDBBackend.transact_write_items
# Transactions run one at a time, so two never interleave their actions (DynamoDB cancels one of them).
_transactions = threading.Lock()


def _transact_write_items_rolling_back_items(self, transact_items):
    with _transactions:
        touched = _touched_items(self, transact_items) if len(transact_items) <= 100 else []
        _transaction.active = True
        try:
            return _transact_write_items(self, transact_items)
        except Exception:
            _restore(touched)
            raise
        finally:
            _transaction.active = False


dynamodb_models.DynamoDBBackend.transact_write_items = _transact_write_items_rolling_back_items
dynamodb_models.copy = _NoTableCopy

server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
host, port = server.get_host_and_port()
print(f"http://{host}:{port}", flush=True)
sys.stdin.read()
server.stop()
