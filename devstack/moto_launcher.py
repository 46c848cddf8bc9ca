"""Runs moto server on a free loopback port for as long as our parent keeps our stdin open.

Prints the endpoint URL on the first line of stdout. When the parent exits (even if it is killed), stdin
closes and the server stops, so a test run never leaves an emulator behind.
"""
import base64
import copy
import functools
import json
import logging
import os
import sys
import threading

import waitress

import moto.dynamodb.models as dynamodb_models
import moto.kms.models as kms_models
import moto.sqs.models as sqs_models
from moto.core.responses import ActionResult
from moto.core.utils import get_service_model
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoHandler, DynamoResult
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from moto.moto_server.werkzeug_app import create_backend_app

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
        if item is not None:
            _index_item(table, item)


_transact_write_items = dynamodb_models.DynamoDBBackend.transact_write_items
# Writes run one at a time (see the end of this file); a transaction's own writes re-enter the lock.
_writes = threading.RLock()


def _transact_write_items_rolling_back_items(self, transact_items):
    with _writes:
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

# moto answers every Query by reading (and sorting) every item of the table, so each query costs time in
# proportion to the table (a bulk import of 100,000 contacts makes every other store's queries slow), where
# DynamoDB reads only the partition. The launcher hands moto's query only the partition's items: for the
# table, its own partition; for a global secondary index, it keeps, per table and index, the keys of the items
# filed under each index partition key.
# Entries are added when an item is written (put, update, a restored transaction) and checked when read: an
# item since deleted, or whose index key changed, is dropped then, so deletes need no hook.
_index_lock = threading.Lock()
_query_scope = threading.local()


def _index_hash_attrs(index):
    return [key["AttributeName"] for key in index.schema if key["KeyType"] == "HASH"]


def _index_item(table, item):
    if not table.global_indexes:
        return
    with _index_lock:
        indexes = table.__dict__.setdefault("_launcher_gsi", {})
        for index in table.global_indexes:
            value = tuple(item.attrs.get(attr) for attr in _index_hash_attrs(index))
            if any(v is None for v in value):
                continue
            indexes.setdefault(index.name, {}).setdefault(value, set()).add((item.hash_key, item.range_key))


def _indexed_items(table, index, value):
    with _index_lock:
        keys = list(table.__dict__.get("_launcher_gsi", {}).get(index.name, {}).get(value, ()))
    attrs = _index_hash_attrs(index)
    items, stale = [], []
    for hash_value, range_value in keys:
        partition = table.items.get(hash_value)
        item = partition.get(range_value) if table.range_key_attr and partition is not None else partition
        current = tuple(item.attrs.get(attr) for attr in attrs) if item is not None else None
        if current is not None and all(v is not None for v in current) and current == value:
            items.append(item)
        else:
            stale.append((hash_value, range_value))
    if stale:
        with _index_lock:
            entries = table._launcher_gsi[index.name].get(value, set())
            entries.difference_update(stale)
    return items


_put_item = Table.put_item


def _put_item_indexed(self, *args, **kwargs):
    item = _put_item(self, *args, **kwargs)
    _index_item(self, item)
    return item


_update_item = dynamodb_models.DynamoDBBackend.update_item


def _update_item_indexed(self, table_name, key, *args, **kwargs):
    item = _update_item(self, table_name, key, *args, **kwargs)
    if item is not None:
        _index_item(self.get_table(table_name), item)
    return item


_all_items = Table.all_items


def _all_items_in_scope(self):
    scope = getattr(_query_scope, "items", None)
    if scope is not None and scope[0] is self:
        return list(scope[1])
    return _all_items(self)


_query = Table.query


def _query_indexed(
    self,
    hash_key,
    range_comparison,
    range_objs,
    limit,
    exclusive_start_key,
    scan_index_forward,
    projection_expressions,
    index_name=None,
    consistent_read=False,
    filter_expression=None,
    hash_key_conditions=None,
    range_key_conditions=None,
    **filter_kwargs,
):
    def query():
        return _query(
            self,
            hash_key,
            range_comparison,
            range_objs,
            limit,
            exclusive_start_key,
            scan_index_forward,
            projection_expressions,
            index_name,
            consistent_read,
            filter_expression,
            hash_key_conditions=hash_key_conditions,
            range_key_conditions=range_key_conditions,
            **filter_kwargs,
        )

    if index_name is None and hash_key is not None:
        # The table's own partition (moto reads and sorts every item of the table for it, too).
        partition = self.items.get(hash_key)
        if partition is None:
            items = []
        elif self.range_key_attr:
            items = list(partition.values())
        else:
            items = [partition]
    else:
        index = next((i for i in self.global_indexes if i.name == index_name), None) if index_name else None
        conditions = dict(hash_key_conditions or [])
        if index is None or not conditions or set(conditions) != set(_index_hash_attrs(index)):
            return query()
        items = _indexed_items(self, index, tuple(conditions[attr] for attr in _index_hash_attrs(index)))
    _query_scope.items = (self, items)
    try:
        return query()
    finally:
        _query_scope.items = None


Table.put_item = _put_item_indexed
dynamodb_models.DynamoDBBackend.update_item = _update_item_indexed
Table.all_items = _all_items_in_scope
Table.query = _query_indexed

# moto's SendMessage reads the queue's attributes to learn whether it deduplicates by content, and computing
# them counts every message of the queue (three approximate counts): each send costs time in proportion to the
# queue, so enqueueing the sweep's 100,000 jobs took hours. While a message is sent, the queue's attributes
# are only that one (the only one SendMessage reads; FIFO queues only, as in SQS).
_sending = threading.local()
_queue_attributes = sqs_models.Queue.attributes


def _attributes_while_sending(self):
    if not getattr(_sending, "active", False):
        return _queue_attributes.fget(self)
    if not self.fifo_queue:
        return {}
    deduplication = self.content_based_deduplication
    if isinstance(deduplication, bool):
        deduplication = str(deduplication).lower()
    return {"ContentBasedDeduplication": deduplication}


_send_message = sqs_models.SQSBackend.send_message


def _send_message_counting_nothing(self, *args, **kwargs):
    _sending.active = True
    try:
        return _send_message(self, *args, **kwargs)
    finally:
        _sending.active = False


# DynamoDB applies a conditional write atomically. moto checks the condition, then writes, in one of its server
# threads, so two writes to one item at once can both pass their condition (32 concurrent conditional puts on
# one item: more than one winner in 2 of 300 trials), and a swept cart was taken twice. Every single-item
# write runs one at a time, as transactions do, so two never interleave (DynamoDB cancels one of them).
def _one_at_a_time(change, lock):
    def locked(self, *args, **kwargs):
        with lock:
            return change(self, *args, **kwargs)

    return locked


for _write in ("put_item", "update_item", "delete_item"):
    setattr(
        dynamodb_models.DynamoDBBackend,
        _write,
        _one_at_a_time(getattr(dynamodb_models.DynamoDBBackend, _write), _writes),
    )

# moto links a queue to its dead-letter queue by walking every queue of the account, while another server thread
# may be adding one: "dictionary changed size during iteration", a 500 that failed a test's setup (24 of 480
# creations from 16 threads beside 3,000 queues). Queues are added, removed and walked one at a time.
_queues = threading.RLock()
for _change in (
    "create_queue",
    "delete_queue",
    "set_queue_attributes",
    "list_queues",
    "list_dead_letter_source_queues",
):
    setattr(sqs_models.SQSBackend, _change, _one_at_a_time(getattr(sqs_models.SQSBackend, _change), _queues))

sqs_models.Queue.attributes = property(_attributes_while_sending)
sqs_models.SQSBackend.send_message = _send_message_counting_nothing

# One log line per request, to a stderr nobody reads, costs moto a tenth of its time under load.
logging.getLogger("werkzeug").setLevel(logging.WARNING)
logging.getLogger("waitress").setLevel(logging.ERROR)

# moto finds the service of every request under one lock, by listing its own package directory (a stat per
# entry) and then trying each service's URL patterns: a fifth of its time in the integration tests, while every
# other request waited on the lock (py-spy). A host's service never changes, so it is looked up once.
_backend_for_host = DomainDispatcherApplication.get_backend_for_host
_backends_by_host = {}


def _backend_for_host_once(self, host):
    if host not in _backends_by_host:
        _backends_by_host[host] = _backend_for_host(self, host)
    return _backends_by_host[host]


DomainDispatcherApplication.get_backend_for_host = _backend_for_host_once

# moto gives every KMS key an RSA private key, symmetric ones too (the app's only kind: Encrypt and Decrypt),
# and generating one is most of a CreateKey; each test's stack creates its keys. One per key spec is enough for
# an emulator (asymmetric keys of a spec would share it; the app has none).
_private_keys = {}
_generate_private_key = kms_models.generate_private_key


def _private_key_per_spec(key_spec):
    if key_spec not in _private_keys:
        _private_keys[key_spec] = _generate_private_key(key_spec)
    return _private_keys[key_spec]


kms_models.generate_private_key = _private_key_per_spec

# moto turns every DynamoDB answer into JSON with its generic, model-driven serializer, which walks each attribute
# of each item against botocore's shapes: half of moto's time in the integration tests (py-spy). An item
# operation's result is already the wire's shape (attribute values as {"S": ...}), so it is written as JSON
# directly: binary values in base64, absent (None) members and members the operation's output does not have
# (DeleteItem's legacy `ConsumedCapacityUnits`) left out, as the serializer does. Anything else
# (errors, table operations, a value JSON cannot take) still goes through moto's serializer.
# MOTO_LAUNCHER_CHECK_SERIALIZER=<file> serializes both ways and appends every difference to the file.
_ITEM_OPERATIONS = {
    "GetItem",
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "Query",
    "Scan",
    "BatchGetItem",
    "BatchWriteItem",
    "TransactGetItems",
    "TransactWriteItems",
}
_serialized = DynamoHandler.serialized
_serializer_check = os.environ.get("MOTO_LAUNCHER_CHECK_SERIALIZER")


def _wire(value):
    if isinstance(value, dict):
        return {key: _wire(member) for key, member in value.items() if member is not None}
    if isinstance(value, (list, tuple)):
        return [_wire(member) for member in value]
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode()
    return value


@functools.cache
def _output_members(operation):
    return frozenset(get_service_model("dynamodb").operation_model(operation).output_shape.members)


def _serialized_directly(self, action_result):
    result = action_result.result
    operation = self._get_action()
    if (
        type(action_result) not in (ActionResult, DynamoResult)
        or operation not in _ITEM_OPERATIONS
        or not isinstance(result, dict)
    ):
        return _serialized(self, action_result)
    members = _output_members(operation)
    try:
        body = json.dumps(
            {key: _wire(value) for key, value in result.items() if key in members and value is not None},
            separators=(",", ":"),
        )
    except (TypeError, ValueError):
        return _serialized(self, action_result)
    headers = {"Content-Type": "application/x-amz-json-1.0"}
    headers.update(self.response_headers)
    if _serializer_check:
        expected = _serialized(self, action_result)
        if (expected[0], expected[1], json.loads(expected[2])) != (200, headers, json.loads(body)):
            with open(_serializer_check, "a") as differences:
                differences.write(f"{operation}\n  moto:   {expected!r}\n  direct: {body!r} {headers!r}\n")
    return 200, headers, body


DynamoHandler.serialized = _serialized_directly

# moto's own server (werkzeug's) closes the connection after every answer and starts a thread per connection, so
# every request paid a TCP connection and a thread start: a quarter of moto's time in the integration tests
# (py-spy). waitress keeps connections alive and answers from a pool of threads (enough for the long polls of a
# dev stack's queue pollers and the requests around them).
server = waitress.create_server(
    DomainDispatcherApplication(create_backend_app),
    host="127.0.0.1",
    port=0,
    threads=32,
    connection_limit=1000,
    asyncore_use_poll=True,
)
print(f"http://127.0.0.1:{server.effective_port}", flush=True)
threading.Thread(target=server.run, daemon=True).start()
sys.stdin.read()
server.close()
