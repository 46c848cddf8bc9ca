"""Checks devstack/moto_launcher.py's changes to moto against a model of what DynamoDB and SQS answer.

Run by devstack/tests/moto_launcher.rs: `python moto_launcher_model.py <python> <launcher>`. Random puts,
updates (some removing the index key), deletes and cancelled transactions on a table with a global secondary
index; after every 100, paged queries of the index and paged, reversed range queries of the table must return
exactly the model's items in key order. Then SQS: a standard queue counts what was sent, a FIFO queue still
deduplicates by content and refuses a send without a deduplication id when it does not, and queues with a
dead-letter queue created from many threads at once all succeed. Between DynamoDB and SQS: item operations with
every kind of attribute value answer as moto's own serializer would.
"""
import concurrent.futures
import json
import os
import random
import subprocess
import sys
import tempfile

import boto3
import botocore.config

# Without the launcher's lock, 11 to 33 of these 480 creations failed in each of three runs.
QUEUES_BESIDE, QUEUE_THREADS, QUEUES_PER_THREAD = 3000, 16, 30

differences = os.path.join(tempfile.mkdtemp(), "serializer-differences.txt")
launcher = subprocess.Popen(
    [sys.argv[1], sys.argv[2]],
    stdin=subprocess.PIPE,
    stdout=subprocess.PIPE,
    stderr=subprocess.DEVNULL,
    text=True,
    env={**os.environ, "MOTO_LAUNCHER_CHECK_SERIALIZER": differences},
)
url = launcher.stdout.readline().strip()
session = dict(endpoint_url=url, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
db = boto3.client("dynamodb", **session)
db.create_table(
    TableName="t",
    KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in ["pk", "sk", "g", "gs"]],
    GlobalSecondaryIndexes=[
        {
            "IndexName": "ByG",
            "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}, {"AttributeName": "gs", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "ALL"},
        }
    ],
    BillingMode="PAY_PER_REQUEST",
)


def paged(**query):
    items, start = [], {}
    while True:
        page = db.query(TableName="t", Limit=3, **query, **start)
        items += [(i["pk"]["S"], i["sk"]["S"]) for i in page["Items"]]
        if "LastEvaluatedKey" not in page:
            return items
        start = {"ExclusiveStartKey": page["LastEvaluatedKey"]}


random.seed(7)
model = {}  # (pk, sk) -> (g or None, gs or None)
for step in range(1, 2001):
    key = (f"p{random.randrange(40)}", f"s{random.randrange(5)}")
    item_key = {"pk": {"S": key[0]}, "sk": {"S": key[1]}}
    g, gs = f"g{random.randrange(6)}", f"{random.randrange(100):03}"
    roll = random.random()
    if roll < 0.4:
        db.put_item(TableName="t", Item={**item_key, "g": {"S": g}, "gs": {"S": gs}})
        model[key] = (g, gs)
    elif roll < 0.6:
        db.update_item(
            TableName="t",
            Key=item_key,
            UpdateExpression="SET g = :g, gs = :gs",
            ExpressionAttributeValues={":g": {"S": g}, ":gs": {"S": gs}},
        )
        model[key] = (g, gs)
    elif roll < 0.7:
        db.update_item(TableName="t", Key=item_key, UpdateExpression="REMOVE g")
        model[key] = (None, model.get(key, (None, None))[1])
    elif roll < 0.85:
        db.delete_item(TableName="t", Key=item_key)
        model.pop(key, None)
    else:
        try:
            db.transact_write_items(
                TransactItems=[
                    {"Put": {"TableName": "t", "Item": {**item_key, "g": {"S": g}, "gs": {"S": gs}}}},
                    {
                        "ConditionCheck": {
                            "TableName": "t",
                            "Key": {"pk": {"S": "absent"}, "sk": {"S": "x"}},
                            "ConditionExpression": "attribute_exists(pk)",
                        }
                    },
                ]
            )
            raise SystemExit("a transaction with a failing condition committed")
        except db.exceptions.TransactionCanceledException:
            pass
    if step % 100:
        continue
    for g in [f"g{i}" for i in range(6)]:
        got = paged(IndexName="ByG", KeyConditionExpression="g = :g", ExpressionAttributeValues={":g": {"S": g}})
        want = [k for k, (kg, kgs) in model.items() if kg == g and kgs is not None]
        assert sorted(got) == sorted(want), (step, g, got, want)
        assert [model[k][1] for k in got] == sorted(model[k][1] for k in got), (step, g, "index order")
    for pk in [f"p{i}" for i in range(0, 40, 7)]:
        for forward in (True, False):
            got = paged(
                KeyConditionExpression="pk = :p AND sk > :s",
                ExpressionAttributeValues={":p": {"S": pk}, ":s": {"S": "s0"}},
                ScanIndexForward=forward,
            )
            want = sorted((k for k in model if k[0] == pk and k[1] > "s0"), reverse=not forward)
            assert got == want, (step, pk, forward, got, want)

# Item operations are answered as JSON written directly, not by moto's serializer: with every kind of attribute
# value and return option, each answer is compact (so written directly) and the same as the serializer's (the
# launcher, run with MOTO_LAUNCHER_CHECK_SERIALIZER, appends every difference to a file).
answers = []
db.meta.events.register("after-call.dynamodb", lambda http_response, **_: answers.append(http_response.content))
every_kind = {
    "pk": {"S": "kinds"},
    "sk": {"S": "1"},
    "g": {"S": "gk"},
    "gs": {"S": "001"},
    "n": {"N": "12.5"},
    "b": {"B": b"\x00\xffbytes"},
    "ss": {"SS": ["a", "b"]},
    "ns": {"NS": ["1", "2"]},
    "bs": {"BS": [b"\x01", b"\x02"]},
    "m": {"M": {"inner": {"L": [{"S": "x"}, {"N": "3"}, {"BOOL": True}, {"NULL": True}]}}},
    "empty": {"L": []},
}
kinds_key = {"pk": {"S": "kinds"}, "sk": {"S": "1"}}
db.put_item(TableName="t", Item=every_kind, ReturnConsumedCapacity="TOTAL")
db.put_item(TableName="t", Item=every_kind, ReturnValues="ALL_OLD")
assert db.get_item(TableName="t", Key=kinds_key)["Item"] == {
    k: ({**v, "BS": [bytes(b) for b in v["BS"]]} if "BS" in v else v) for k, v in every_kind.items()
}
db.get_item(TableName="t", Key={"pk": {"S": "kinds"}, "sk": {"S": "absent"}})
db.update_item(
    TableName="t",
    Key=kinds_key,
    UpdateExpression="ADD n :one",
    ExpressionAttributeValues={":one": {"N": "1"}},
    ReturnValues="ALL_NEW",
)
db.update_item(TableName="t", Key=kinds_key, UpdateExpression="REMOVE ss", ReturnValues="UPDATED_OLD")
db.query(TableName="t", KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "kinds"}})
db.query(
    TableName="t",
    IndexName="ByG",
    KeyConditionExpression="g = :g",
    ExpressionAttributeValues={":g": {"S": "gk"}},
    Select="COUNT",
)
db.scan(TableName="t", Limit=2, ReturnConsumedCapacity="INDEXES")
db.batch_get_item(RequestItems={"t": {"Keys": [kinds_key, {"pk": {"S": "kinds"}, "sk": {"S": "absent"}}]}})
db.batch_write_item(RequestItems={"t": [{"PutRequest": {"Item": {**every_kind, "sk": {"S": "2"}}}}]})
db.transact_get_items(TransactItems=[{"Get": {"TableName": "t", "Key": kinds_key}}])
db.transact_write_items(
    TransactItems=[{"Delete": {"TableName": "t", "Key": {"pk": {"S": "kinds"}, "sk": {"S": "2"}}}}]
)
db.delete_item(TableName="t", Key=kinds_key, ReturnValues="ALL_OLD")
db.delete_item(TableName="t", Key=kinds_key)
assert len(answers) == 15 and all(b'": ' not in answer for answer in answers), answers
assert not os.path.exists(differences), open(differences).read()

sqs = boto3.client("sqs", **session)
standard = sqs.create_queue(QueueName="standard")["QueueUrl"]
for i in range(0, 300, 10):
    sqs.send_message_batch(QueueUrl=standard, Entries=[{"Id": str(j), "MessageBody": f"m{i + j}"} for j in range(10)])
counts = sqs.get_queue_attributes(QueueUrl=standard, AttributeNames=["All"])["Attributes"]
assert counts["ApproximateNumberOfMessages"] == "300", counts
assert len(sqs.receive_message(QueueUrl=standard, MaxNumberOfMessages=10)["Messages"]) == 10
by_content = sqs.create_queue(
    QueueName="by-content.fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"}
)["QueueUrl"]
sqs.send_message(QueueUrl=by_content, MessageBody="same", MessageGroupId="a")
sqs.send_message(QueueUrl=by_content, MessageBody="same", MessageGroupId="a")
attributes = sqs.get_queue_attributes(QueueUrl=by_content, AttributeNames=["All"])["Attributes"]
assert attributes["ApproximateNumberOfMessages"] == "1", attributes
assert attributes["ContentBasedDeduplication"] == "true", attributes
by_id = sqs.create_queue(QueueName="by-id.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
try:
    sqs.send_message(QueueUrl=by_id, MessageBody="x", MessageGroupId="a")
    raise SystemExit("a FIFO send without a deduplication id was taken")
except sqs.exceptions.ClientError as error:
    assert error.response["Error"]["Code"] == "InvalidParameterValue", error.response

# Queues with a dead-letter queue, created from many threads at once beside many others, as the suites' apps
# create theirs: every creation succeeds at its first attempt.
once = botocore.config.Config(retries={"total_max_attempts": 1}, max_pool_connections=QUEUE_THREADS)
single_try = boto3.client("sqs", config=once, **session)

def create_queues(prefix, count, **attributes):
    for i in range(count):
        single_try.create_queue(QueueName=f"{prefix}-{i}", **attributes)


with concurrent.futures.ThreadPoolExecutor(QUEUE_THREADS) as pool:
    beside = QUEUES_BESIDE // QUEUE_THREADS
    list(pool.map(lambda thread: create_queues(f"beside-{thread}", beside), range(QUEUE_THREADS)))
# Last, so that finding it walks every queue.
dead_letters = single_try.create_queue(QueueName="dead-letters")["QueueUrl"]
dead_letters_arn = single_try.get_queue_attributes(QueueUrl=dead_letters, AttributeNames=["QueueArn"])
redrive = json.dumps({"deadLetterTargetArn": dead_letters_arn["Attributes"]["QueueArn"], "maxReceiveCount": 5})
with concurrent.futures.ThreadPoolExecutor(QUEUE_THREADS) as pool:
    list(
        pool.map(
            lambda thread: create_queues(f"q-{thread}", QUEUES_PER_THREAD, Attributes={"RedrivePolicy": redrive}),
            range(QUEUE_THREADS),
        )
    )

launcher.stdin.close()
launcher.wait()
print("ok")
