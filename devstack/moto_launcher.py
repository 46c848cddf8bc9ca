"""Runs moto server on a free loopback port for as long as our parent keeps our stdin open.

Prints the endpoint URL on the first line of stdout. When the parent exits (even if it is killed), stdin
closes and the server stops, so a test run never leaves an emulator behind.
"""
import sys

from moto.server import ThreadedMotoServer

server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
host, port = server.get_host_and_port()
print(f"http://{host}:{port}", flush=True)
sys.stdin.read()
server.stop()
