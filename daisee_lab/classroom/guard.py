"""The learners' door to the room's chain: a guarded JSON-RPC endpoint, and the join desk.

anvil answers anyone who reaches it with its admin methods (``anvil_setStorageAt``,
``anvil_impersonateAccount``, ``evm_increaseTime``...): in a room, the full node listens on
loopback for the instructor alone, and learners reach the chain through a :class:`Guard`, an
aiohttp server that

* takes each learner's JSON-RPC at ``POST /rpc/<token>`` (the token comes with the seat, it
  names the learner in the room's log), forwards the standard read methods (:data:`READS`) and
  ``eth_sendRawTransaction``, and refuses everything else: admin, debug and unsigned sends;
* forwards a raw transaction only if its signer is that learner's account and it calls one of
  the room's contracts with at most :data:`MAX_GAS` gas (no contract creation, no transfers
  between learners' accounts);
* limits each learner to :data:`RATE` requests a second (bursts of :data:`BURST`, a batch counts
  each call) and each request to :data:`MAX_REQUEST_BYTES`;
* seats a learner at ``POST /join`` with ``{"code": ..., "address": ...}``: the one-time code
  the instructor gave that learner, and the address of the key the learner made on its own
  machine (and ``"meter"``, its own meter process's, if it brings a real meter);
  ``on_join(code, address, meter)`` registers them and returns the seat's public data.

Every refusal is reported to ``on_refusal(seat, reason)``, the room's log and dashboard (the
same refusal of the same seat at most once a second).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

import aiohttp
import rlp
from aiohttp import web
from eth_account import Account
from eth_account.typed_transactions import TypedTransaction
from hexbytes import HexBytes

from daisee_lab.classroom.schedule import ClassroomError

READS = frozenset({
    "eth_chainId", "net_version", "web3_clientVersion", "eth_blockNumber", "eth_syncing",
    "eth_getBlockByNumber", "eth_getBlockByHash", "eth_getBlockTransactionCountByNumber",
    "eth_call", "eth_estimateGas", "eth_getBalance", "eth_getCode", "eth_getStorageAt",
    "eth_getTransactionCount", "eth_getTransactionByHash", "eth_getTransactionReceipt",
    "eth_getLogs", "eth_gasPrice", "eth_maxPriorityFeePerGas", "eth_feeHistory",
    "eth_blobBaseFee"})
SEND = "eth_sendRawTransaction"
RATE, BURST = 60.0, 240  # JSON-RPC calls per second and learner, and the burst allowed
MAX_REQUEST_BYTES = 64 * 1024
MAX_BATCH = 50  # calls in one JSON-RPC batch
MAX_GAS = 3_000_000  # per learner transaction: ten times a delivery, a tenth of a block
JOIN_RATE, JOIN_BURST = 5.0, 500  # join attempts per remote address (a room behind one NAT
# joins at once); with 40-bit codes, guessing one of 500 seats takes years at that rate
REFUSED = -32601  # JSON-RPC "method not found", for every refusal
REPORT_SECONDS = 1.0  # the same refusal of the same seat is reported at most this often


@dataclass
class Bucket:
    """A token bucket: `rate` tokens a second, at most `burst`."""

    rate: float
    burst: float
    tokens: float = field(default=0.0)
    at: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.tokens = self.burst

    def take(self, n: int) -> bool:
        """Take `n` tokens if there are; False (nothing taken) if not."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens < n:
            return False
        self.tokens -= n
        return True


@dataclass
class Door:
    """A learner's way in: its seat's name, its account, and its request budget."""

    seat: str
    address: str
    bucket: Bucket = field(default_factory=lambda: Bucket(RATE, BURST))
    told: dict[str, float] = field(default_factory=dict)  # refusal: when last reported


class Guard:
    """The learners' endpoint on `host`:`port`, forwarding to the node at `upstream`. Calls may
    target only `contracts` (addresses); `on_join(code, address, meter)` seats a learner (`meter`
    may be None) and returns its data, or raises :class:`ClassroomError` to refuse with the
    reason; `on_refusal(seat, reason)` hears of every refused call."""

    def __init__(self, upstream: str, host: str, port: int, contracts: list[str], *,
                 on_join: Callable[[str, str, str | None], dict],
                 on_refusal: Callable[[str, str], None]):
        self.upstream, self.host, self.port = upstream, host, port
        self.contracts = {c.lower() for c in contracts}
        self.on_join, self.on_refusal = on_join, on_refusal
        self.doors: dict[str, Door] = {}  # token: door
        self._joins: dict[str, Bucket] = {}  # remote address: join attempts
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    def admit(self, token: str, seat: str, address: str) -> None:
        """Open the door `token` for `seat`, whose transactions `address` signs."""
        self.doors[token] = Door(seat, address.lower())

    # --- running --------------------------------------------------------------------------

    def start(self) -> Guard:
        """Listen, in a background thread; raise :class:`ClassroomError` if the port is taken."""
        ready, failed = threading.Event(), []

        def serve() -> None:
            self._loop = asyncio.new_event_loop()
            try:
                self._loop.run_until_complete(self._start())
            except OSError as exc:
                failed.append(exc)
                ready.set()
                return
            ready.set()
            self._loop.run_forever()
            if self._runner is not None:  # set by _start
                self._loop.run_until_complete(self._runner.cleanup())
            self._loop.close()

        self._thread = threading.Thread(target=serve, name="classroom guard", daemon=True)
        self._thread.start()
        ready.wait()
        if failed:
            raise ClassroomError(f"cannot serve the learners' endpoint on {self.host}:{self.port}"
                                 f" ({failed[0].strerror}): choose another port") from None
        return self

    async def _start(self) -> None:
        app = web.Application(client_max_size=MAX_REQUEST_BYTES)
        app.router.add_post("/rpc/{token}", self._rpc)
        app.router.add_post("/join", self._join)
        app.router.add_get("/", self._page)
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        app.on_cleanup.append(lambda _: self._session.close())
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()

    def stop(self) -> None:
        """Stop listening."""
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._thread = None

    # --- the learners' JSON-RPC -----------------------------------------------------------

    def _refuse(self, door: Door, reason: str) -> None:
        """Report a refusal, once per :data:`REPORT_SECONDS` for the same seat and reason: a
        flood of bad calls costs the flooder its budget, not the room's log."""
        now = time.monotonic()
        if now - door.told.get(reason, -REPORT_SECONDS) >= REPORT_SECONDS:
            door.told[reason] = now
            self.on_refusal(door.seat, reason)

    async def _rpc(self, request: web.Request) -> web.Response:
        door = self.doors.get(request.match_info["token"])
        if door is None:
            return web.json_response({"error": "unknown seat token: join the room first"},
                                     status=403)
        try:
            body = json.loads(await request.read())
        except web.HTTPRequestEntityTooLarge:
            self._refuse(door, f"a request above {MAX_REQUEST_BYTES} bytes")
            raise
        except ValueError:
            self._refuse(door, "a request that is not JSON")
            return web.json_response(_error(None, -32700, "parse error: send JSON-RPC"))
        calls = body if isinstance(body, list) else [body]
        if not calls or len(calls) > MAX_BATCH:
            self._refuse(door, f"a batch of {len(calls)} calls")
            return web.json_response(_error(None, -32600, f"send 1 to {MAX_BATCH} calls"))
        if not door.bucket.take(len(calls)):
            self._refuse(door, f"more than {RATE:g} calls a second")
            return web.json_response(
                [_error(_id(c), -32005, f"rate limit: at most {RATE:g} calls a second")
                 for c in calls] if isinstance(body, list) else
                _error(_id(body), -32005, f"rate limit: at most {RATE:g} calls a second"))
        answers = await asyncio.gather(*(self._call(door, c) for c in calls))
        return web.json_response(answers if isinstance(body, list) else answers[0])

    async def _call(self, door: Door, call: object) -> dict:
        if not isinstance(call, dict) or not isinstance(call.get("method"), str):
            self._refuse(door, "a call that is not JSON-RPC")
            return _error(None, -32600, "invalid JSON-RPC call")
        method, params = call["method"], call.get("params", [])
        reason = None
        if method == "eth_accounts":  # the node's unlocked accounts are not the learners'
            return {"jsonrpc": "2.0", "id": _id(call), "result": []}
        if method == SEND:
            reason = self._check_transaction(door, params)
        elif method not in READS:
            reason = f"{method} is not open to learners (reads and signed transactions only)"
        if reason:
            self._refuse(door, reason)
            return _error(_id(call), REFUSED, reason)
        forwarded = {"jsonrpc": "2.0", "id": _id(call), "method": method, "params": params}
        async with self._session.post(self.upstream, json=forwarded) as response:
            return await response.json(content_type=None)

    def _check_transaction(self, door: Door, params: object) -> str | None:
        """Why a learner's raw transaction is refused, or None."""
        try:
            (raw,) = cast("list[str]", params)  # anything else is refused below
            data = bytes.fromhex(raw.removeprefix("0x"))
            signer = Account.recover_transaction(data).lower()
            fields = _decode(data)
        except Exception as exc:  # noqa: BLE001 - any undecodable input is refused as such
            return f"a malformed raw transaction ({type(exc).__name__})"
        if signer != door.address:
            return f"a transaction signed by {signer}, not by the seat's account"
        to = fields.get("to")
        if not to or to.lower() not in self.contracts:
            return ("a transaction that calls no contract of the room (contract creation and "
                    "transfers are closed)")
        if fields.get("gas", 0) > MAX_GAS:
            return f"a transaction of {fields['gas']} gas (at most {MAX_GAS})"
        return None

    # --- joining --------------------------------------------------------------------------

    async def _join(self, request: web.Request) -> web.Response:
        remote = request.remote or "?"
        bucket = self._joins.setdefault(remote, Bucket(JOIN_RATE, JOIN_BURST))
        if not bucket.take(1):
            self.on_refusal(f"({remote})", "too many join attempts")
            return web.json_response({"error": "too many join attempts: wait a minute"},
                                     status=429)
        try:
            body = json.loads(await request.read())
            code, address = str(body["code"]), str(body["address"])
            meter = body.get("meter") and str(body["meter"])
        except (ValueError, KeyError, TypeError, AttributeError):
            return web.json_response({"error": 'send {"code": ..., "address": ...}'},
                                     status=400)
        try:
            seat = await asyncio.get_running_loop().run_in_executor(
                None, self.on_join, code, address, meter)
        except ClassroomError as exc:
            self.on_refusal(f"({remote})", f"join refused: {exc}")
            return web.json_response({"error": str(exc)}, status=403)
        except Exception as exc:  # noqa: BLE001 - the room's own failure: said, not hidden
            self.on_refusal(f"({remote})", f"join failed: {exc!r}")
            return web.json_response({"error": f"the room failed to seat you ({exc}): tell "
                                               "the instructor"}, status=500)
        return web.json_response(seat)

    async def _page(self, request: web.Request) -> web.Response:
        return web.Response(text=(
            "daisee-lab classroom: join with the code your instructor gave you:\n"
            f"    daisee-lab classroom join http://{request.host} --code XXXX-XXXX\n"),
            content_type="text/plain")


def _id(call: object) -> object:
    return call.get("id") if isinstance(call, dict) else None


def _error(call_id: object, code: int, message: str) -> dict:
    return {"jsonrpc": "2.0", "id": call_id, "error": {"code": code, "message": message}}


def _decode(data: bytes) -> dict:
    """The `to` address and `gas` of a signed raw transaction (legacy or typed)."""
    if data and data[0] < 0x80:
        fields = TypedTransaction.from_bytes(HexBytes(data)).as_dict()
        to = fields.get("to")
        return {"to": "0x" + bytes(to).hex() if to else None, "gas": int(fields["gas"])}
    nonce, gas_price, gas, to, *_ = rlp.decode(data)
    return {"to": "0x" + to.hex() if to else None, "gas": int.from_bytes(gas, "big")}
