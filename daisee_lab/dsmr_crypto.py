"""Encrypted DSMR telegrams: the DLMS frames of Luxembourg (Smarty) and Austrian meters.

The part of :mod:`daisee_lab.dsmr` that opens a frame with the customer's key; import its names
from :mod:`daisee_lab.dsmr`. :mod:`daisee_lab.dlms` reads the frame; the telegram inside is
checked by :func:`~daisee_lab.dsmr_telegram.parse_telegram`. Pure: no I/O, no clock.
"""

from __future__ import annotations

from dataclasses import replace

from daisee_lab import dlms
from daisee_lab.dsmr_telegram import Telegram, parse_telegram
from daisee_lab.dsmr_values import DecryptionError, TelegramError, _check_bytes

__all__ = ["decrypt_telegram"]

_PRINTABLE = bytes(range(0x20, 0x7F)) + b"\r\n"


def _check_key(key: bytes) -> bytes:
    if not isinstance(key, (bytes, bytearray)):
        raise DecryptionError(f"give the key as bytes, e.g. bytes.fromhex('..."
                              f"{dlms.KEY_HEX_DIGITS} hex digits...'), not {type(key).__name__}")
    if len(key) != dlms.KEY_BYTES:
        raise DecryptionError(f"a DSMR decryption key is {dlms.KEY_BYTES} bytes "
                              f"({dlms.KEY_HEX_DIGITS} hex digits), this one is {len(key)}")
    return bytes(key)


def _readable(plaintext: bytes) -> bool:
    """Does a decryption look like a telegram (noise in it allowed), not like a wrong key's
    bytes?"""
    printable = len(plaintext) - len(plaintext.translate(None, _PRINTABLE))
    return plaintext[:1] == b"/" and printable >= 0.9 * len(plaintext)


def decrypt_telegram(frame: bytes, key: bytes) -> Telegram:
    """Decrypt and check one DLMS general-glo-ciphering frame (Luxembourg Smarty, Austria).

    `key` is the 16-byte AES key the grid operator gives the customer. A frame whose GCM tag does
    not check under the Smarty authentication key is still read when the plaintext is a telegram
    with a valid CRC (another operator's authentication key), with a warning. Raises
    :class:`DecryptionError` when the key does not open the frame, :class:`TelegramError` when the
    bytes are not a frame or not a telegram, :class:`ChecksumError` when the telegram is corrupted.
    """
    key = _check_key(key)
    try:
        parsed = dlms.parse_frame(_check_bytes(frame, "an encrypted frame"))
    except dlms.DlmsError as exc:
        raise TelegramError(f"not an encrypted DSMR frame: {exc}") from None
    return _decrypted(parsed, key)


def _decrypted(frame: dlms.CipheredFrame, key: bytes) -> Telegram:
    plaintext, proven = dlms.decrypt(frame, key)
    if proven:
        return parse_telegram(plaintext)
    if not _readable(plaintext):
        raise DecryptionError(
            "the key does not open the frame of meter "
            f"{frame.system_title.hex().upper()}: check the key, the 32 hex digits the grid "
            "operator gives for the P1 port (Luxembourg: the "
            "'decryption key', GUEK, that Creos sends on request)")
    telegram = parse_telegram(plaintext, require_crc=True)
    note = ("GCM tag not proven (an authentication key other than Smarty's?): the telegram's "
            "CRC checked")
    return replace(telegram, warnings=(*telegram.warnings, note))


def _telegram_start(block: bytes) -> bool:
    """Can a decrypted first block begin a telegram: a '/', then printable text only?"""
    return block[:1] == b"/" and not block.translate(None, _PRINTABLE)
