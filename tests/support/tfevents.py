#!/usr/bin/env python3
"""Reads a TensorBoard event file without TensorFlow, protobuf or kiln: TFRecord framing checked with its own
CRC-32C, Event/Summary messages decoded from the protobuf wire format with TensorFlow's field numbers. Prints one
JSON object per event. Used by the tests as an independent reader of the files kiln writes.

usage: tfevents.py FILE
"""
import json
import struct
import sys


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def masked(data):
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def varint(buf, i):
    shift = value = 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return value, i


def fields(buf):
    """(field number, wire type, value) of a message: varints as ints, 64/32-bit as raw bytes, bytes as bytes."""
    i = 0
    while i < len(buf):
        key, i = varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = varint(buf, i)
        elif wire == 1:
            value, i = buf[i:i + 8], i + 8
        elif wire == 2:
            n, i = varint(buf, i)
            value, i = buf[i:i + n], i + n
        elif wire == 5:
            value, i = buf[i:i + 4], i + 4
        else:
            raise ValueError("wire type %d" % wire)
        yield number, wire, value


def summary_value(buf):
    out = {}
    for number, _, value in fields(buf):
        if number == 1:
            out["tag"] = value.decode()
        elif number == 2:
            out["simple_value"] = struct.unpack("<f", value)[0]
        elif number == 4:
            image = {}
            for n, _, v in fields(value):
                if n == 1:
                    image["height"] = v
                elif n == 2:
                    image["width"] = v
                elif n == 3:
                    image["colorspace"] = v
                elif n == 4:
                    image["png_bytes"] = len(v)
                    image["png_signature_ok"] = v[:8] == b"\x89PNG\r\n\x1a\n"
            out["image"] = image
    return out


def event(buf):
    out = {}
    for number, _, value in fields(buf):
        if number == 1:
            out["wall_time"] = struct.unpack("<d", value)[0]
        elif number == 2:
            out["step"] = value
        elif number == 3:
            out["file_version"] = value.decode()
        elif number == 5:
            out["values"] = [summary_value(v) for n, _, v in fields(value) if n == 1]
    return out


def main(path):
    data = open(path, "rb").read()
    i = 0
    while i < len(data):
        header = data[i:i + 8]
        (length,) = struct.unpack("<Q", header)
        (length_crc,) = struct.unpack("<I", data[i + 8:i + 12])
        if length_crc != masked(header):
            sys.exit("%s: record at byte %d: bad length CRC" % (path, i))
        body = data[i + 12:i + 12 + length]
        (body_crc,) = struct.unpack("<I", data[i + 12 + length:i + 16 + length])
        if len(body) != length or body_crc != masked(body):
            sys.exit("%s: record at byte %d: bad data CRC or truncated" % (path, i))
        print(json.dumps(event(body)))
        i += 16 + length


if __name__ == "__main__":
    main(sys.argv[1])
