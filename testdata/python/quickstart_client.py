"""The Python package's own client against a binproto server: the
quick-start types, each echoed. Prints one JSON line per reply.

Usage: PYTHONPATH=<shared/python> python3 quickstart_client.py HOST PORT
"""
import asyncio
import json
import sys
from enum import IntEnum

from binary_protocol import BinaryClient, ProtocolConfig
from binary_protocol.protocol.message_structure import FieldDefinition, MessageStructure


class MessageType(IntEnum):
    SENSOR_DATA = 1
    STATUS = 2
    BENCHMARK = 3
    FIXED_BENCHMARK = 4


STRUCTURES = {
    MessageType.SENSOR_DATA: MessageStructure([
        FieldDefinition("sensor1", float, format_string=">f"),
        FieldDefinition("sensor2", float, format_string=">f"),
        FieldDefinition("sensor3", float, format_string=">f"),
        FieldDefinition("sensor4", float, format_string=">f"),
    ]),
    MessageType.STATUS: MessageStructure([
        FieldDefinition("status_code", int, format_string=">I"),
        FieldDefinition("message", str),
    ]),
    MessageType.BENCHMARK: MessageStructure([FieldDefinition("data", bytes)]),
    MessageType.FIXED_BENCHMARK: MessageStructure([FieldDefinition("value", int, format_string=">I")]),
}


async def main(host, port):
    client = BinaryClient(ProtocolConfig(message_type_enum=MessageType, message_structures=STRUCTURES))
    await client.connect(host, port)
    sent = [
        (MessageType.SENSOR_DATA, {"sensor1": 1.5, "sensor2": -2.25, "sensor3": 0.125, "sensor4": 3.0}),
        (MessageType.STATUS, {"status_code": 200, "message": "hello from python"}),
        (MessageType.BENCHMARK, {"data": b"\x00\x01binary\xff"}),
        (MessageType.FIXED_BENCHMARK, {"value": 4000000000}),
    ]
    for msg_type, data in sent:
        await client.send_message(msg_type, data)
        reply_type, reply = await client.receive_message()
        if isinstance(reply.get("data"), bytes):
            reply["data"] = reply["data"].hex()
        print(json.dumps({"sent": int(msg_type), "type": int(reply_type), "fields": reply}), flush=True)
    await client.disconnect()


asyncio.run(main(sys.argv[1], int(sys.argv[2])))
