"""DLMS general-glo-ciphering: the encrypted P1 frames of Luxembourg (Smarty) and Austrian meters.

Such a meter wraps each DSMR telegram in one binary frame, encrypted with AES-128-GCM under a key
the grid operator gives the customer (Luxembourg Smarty P1 specification 1.1.3, §3.2.5 "P1
software - channel security", as implemented by openHAB's and dsmr_parser's Smarty decrypters,
read 2026-12-06)::

    DB                  tag: general-glo-ciphering
    08 <8 bytes>        system title: the meter's maker code and serial number
    <length>            A-XDR length of the rest: one byte below 0x80, or 0x81 L, or 0x82 L L
    30                  security control: 0x30 authenticated and encrypted, suite 0
                        (0x20: encrypted only)
    <4 bytes>           invocation counter, big-endian: one more each frame
    <ciphertext>        the telegram, '/' to CRC line
    <12 bytes>          GCM tag (authenticated frames)

The GCM nonce is the system title then the invocation counter; the authenticated data is the
security control byte then the authentication key (Smarty: :data:`SMARTY_AUTH_KEY` for every
meter). Pure: no I/O. :mod:`daisee_lab.dsmr` reads the plaintext.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from daisee_lab.errors import DaiseeError

__all__ = ["CipheredFrame", "DlmsError", "FirstBlock", "KEY_BYTES", "KEY_HEX_DIGITS",
           "SMARTY_AUTH_KEY", "START", "TAG", "TAG_BYTES", "decrypt", "encrypt", "frame_length",
           "parse_frame"]

TAG = 0xDB
"""The first byte of a general-glo-ciphering frame."""
START = b"\xdb\x08"  # the tag and the system title's length: where a frame starts in a stream
SMARTY_AUTH_KEY = bytes.fromhex("00112233445566778899AABBCCDDEEFF")
"""The authentication key of every Luxembourg Smarty meter (openHAB's and dsmr_parser's default)."""
KEY_BYTES = 16  # AES-128
KEY_HEX_DIGITS = 2 * KEY_BYTES  # the key as the grid operator sends it, in hex
TAG_BYTES = 12  # DLMS GCM tags are 96 bits
_ENCRYPTED, _AUTHENTICATED = 0x20, 0x10
_HEADER_BYTES = 2 + 8  # tag, title length, system title: then the length field


class DlmsError(DaiseeError):
    """Bytes that are not a general-glo-ciphering frame this module can open."""


@dataclass(frozen=True)
class CipheredFrame:
    """One general-glo-ciphering frame, split into its fields."""

    system_title: bytes
    security_control: int
    invocation_counter: int
    ciphertext: bytes  # without the tag
    tag: bytes         # b"" when the frame is not authenticated

    @property
    def nonce(self) -> bytes:
        """The 12-byte GCM nonce: system title, then invocation counter."""
        return self.system_title + self.invocation_counter.to_bytes(4, "big")


def frame_length(data: bytes | bytearray, start: int = 0) -> int | None:
    """The whole length of the frame that starts at `data[start]`, or None while its header is
    incomplete. Raises :class:`DlmsError` when the bytes there cannot start a frame."""
    if bytes(data[start:start + 2]) != START[:len(data) - start]:
        raise DlmsError("a general-glo-ciphering frame starts with DB 08, not "
                        f"{bytes(data[start:start + 2]).hex()}")
    at = start + _HEADER_BYTES
    if len(data) <= at:
        return None
    first = data[at]
    if first < 0x80:
        return _HEADER_BYTES + 1 + first
    count = first - 0x80
    if count not in (1, 2):
        raise DlmsError(f"length field {first:#04x}: expected one byte below 0x80, 0x81 or 0x82")
    if len(data) < at + 1 + count:
        return None
    return _HEADER_BYTES + 1 + count + int.from_bytes(data[at + 1:at + 1 + count], "big")


def parse_frame(data: bytes) -> CipheredFrame:
    """Split one whole frame into its fields; :class:`DlmsError` if it is not one."""
    size = frame_length(data)
    if size is None or size != len(data):
        raise DlmsError(f"a frame of {len(data)} bytes whose length field says {size}: "
                        "cut short or run on")
    body = data[size - _body_length(data):]
    if len(body) < 5:
        raise DlmsError("a frame too short to hold its security control and invocation counter")
    control = body[0]
    if not control & _ENCRYPTED or control & 0x0F:
        raise DlmsError(f"security control {control:#04x}: only AES-GCM-128 encryption "
                        "(suite 0) is known")
    tag_bytes = TAG_BYTES if control & _AUTHENTICATED else 0
    if len(body) < 5 + tag_bytes:
        raise DlmsError("a frame too short to hold its authentication tag")
    rest = body[5:]
    return CipheredFrame(bytes(data[2:10]), control, int.from_bytes(body[1:5], "big"),
                         bytes(rest[:len(rest) - tag_bytes]), bytes(rest[len(rest) - tag_bytes:]))


def _body_length(data: bytes) -> int:
    first = data[_HEADER_BYTES]
    if first < 0x80:
        return first
    return int.from_bytes(data[_HEADER_BYTES + 1:_HEADER_BYTES + 1 + first - 0x80], "big")


def decrypt(frame: CipheredFrame, key: bytes,
            auth_key: bytes = SMARTY_AUTH_KEY) -> tuple[bytes, bool]:
    """The plaintext of `frame` under `key`, and whether its GCM tag proved it (key and bytes
    right).

    When the tag does not check (a wrong key, a corrupted frame, or a meter whose authentication
    key is not `auth_key`) the plaintext is still returned, decrypted without authentication, with
    False: the caller must check it some other way (a DSMR telegram's own CRC).
    """
    if len(key) != KEY_BYTES:
        raise DlmsError(f"an AES-128 key is {KEY_BYTES} bytes ({KEY_HEX_DIGITS} hex digits), "
                        f"not {len(key)}")
    if frame.tag:
        mode = modes.GCM(frame.nonce, frame.tag, min_tag_length=TAG_BYTES)
        decryptor = Cipher(algorithms.AES(key), mode).decryptor()
        decryptor.authenticate_additional_data(bytes([frame.security_control]) + auth_key)
        try:
            return decryptor.update(frame.ciphertext) + decryptor.finalize(), True
        except InvalidTag:
            pass
    # GCM's keystream is AES-CTR from the counter block nonce || 00000002
    ctr = Cipher(algorithms.AES(key), modes.CTR(frame.nonce + b"\x00\x00\x00\x02")).decryptor()
    return ctr.update(frame.ciphertext) + ctr.finalize(), False


class FirstBlock:
    """The first 16 plaintext bytes of frames under one key, decrypted without the tag (one AES
    block each): enough to tell a telegram (it starts with '/') from noise or a wrong key before
    the whole frame has come."""

    def __init__(self, key: bytes) -> None:
        self._aes = Cipher(algorithms.AES(key), modes.ECB()).encryptor()

    def __call__(self, data: bytes | bytearray, size: int) -> bytes | None:
        """For the frame of `size` bytes that starts `data`; None while `data` is too short to
        hold its first block, or the frame is."""
        length_bytes = 1 if data[_HEADER_BYTES] < 0x80 else 1 + data[_HEADER_BYTES] - 0x80
        at = _HEADER_BYTES + length_bytes + 5  # past the security control and invocation counter
        if len(data) < at + 16 or size < at + 16 + TAG_BYTES:
            return None
        counter_block = bytes(data[2:10]) + bytes(data[at - 4:at]) + b"\x00\x00\x00\x02"
        keystream = self._aes.update(counter_block)
        block = int.from_bytes(data[at:at + 16], "big") ^ int.from_bytes(keystream, "big")
        return block.to_bytes(16, "big")


def encrypt(plaintext: bytes, key: bytes, system_title: bytes, invocation_counter: int,
            auth_key: bytes = SMARTY_AUTH_KEY) -> bytes:
    """One authenticated and encrypted frame, as a Smarty meter sends it (tests, simulators)."""
    if len(key) != KEY_BYTES or len(system_title) != 8:
        raise DlmsError(f"need a {KEY_BYTES}-byte key and an 8-byte system title")
    control = _ENCRYPTED | _AUTHENTICATED
    nonce = system_title + invocation_counter.to_bytes(4, "big")
    encryptor = Cipher(algorithms.AES(key), modes.GCM(nonce)).encryptor()
    encryptor.authenticate_additional_data(bytes([control]) + auth_key)
    sealed = encryptor.update(plaintext) + encryptor.finalize() + encryptor.tag[:TAG_BYTES]
    body = bytes([control]) + invocation_counter.to_bytes(4, "big") + sealed
    size = len(body)
    length = (bytes([size]) if size < 0x80 else b"\x81" + size.to_bytes(1, "big") if size < 0x100
              else b"\x82" + size.to_bytes(2, "big"))
    return START + system_title + length + body
