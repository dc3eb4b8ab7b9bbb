"""MeterRegistry: registration, EIP-712 readings signed in Python, and the attacks they refuse."""


import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak

from daisee_lab import dsmr, tic
from daisee_lab.chain import Chain
from daisee_lab.contracts import (MAX_INDEX_WH, ContractsError, SignedReading, make_members,
                                  public_id_bytes, reading_typed_data, sign_reading)
from daisee_lab.units import DEFAULT_POWER_VA, MAX_POWER_VA

ZERO = "0x" + "00" * 20


@pytest.fixture(scope="module")
def world():
    """One chain with a registry run by accounts[0]; each test rolls back to this state."""
    chain = Chain()
    operator = chain.accounts[0]
    registry = chain.deploy("MeterRegistry", operator.address, sender=operator)
    homes = make_members([a.address for a in chain.accounts[1:4]], seed=7)
    registry.register([(h.meter, public_id_bytes(h.public_id), h.account) for h in homes[:2]],
                      sender=operator)
    return chain, registry, homes, chain.snapshot()


@pytest.fixture
def env(world):
    chain, registry, homes, snapshot = world
    yield chain, registry, homes
    chain.revert_to(snapshot)


def sign(registry, chain, key, meter, slot, import_wh, export_wh):
    return sign_reading(key, registry.address, chain.w3.eth.chain_id, meter, slot, import_wh,
                        export_wh)


def submit(registry, slot, reading, sender=None):
    return registry.submitReading(slot, reading.calldata(), sender=sender)


def test_python_typed_data_is_the_digest_the_contract_verifies(env):
    chain, registry, (home, *_) = env
    data = reading_typed_data(registry.address, chain.w3.eth.chain_id, home.meter, 1_900_001,
                              12_345_678, 901)
    message = encode_typed_data(full_message=data)
    digest = keccak(b"\x19" + message.version + message.header + message.body)
    assert registry.readingDigest(home.meter, 1_900_001, 12_345_678, 901) == digest
    reading = sign(registry, chain, home.meter_key, home.meter, 1_900_001, 12_345_678, 901)
    assert Account._recover_hash(digest, vrs=(
        27 + (int.from_bytes(reading.vs, "big") >> 255), reading.r,
        (int.from_bytes(reading.vs, "big") & (2**255 - 1)).to_bytes(32, "big"))) == home.meter
    word = reading.calldata()[0]
    assert registry.unpack(word) == [home.meter, 12_345_678, 901]


def test_registration_is_recorded_and_announced(env):
    chain, registry, homes = env
    third = homes[2]
    receipt = registry.register([(third.meter, public_id_bytes(third.public_id),
                                  third.account)], sender=chain.accounts[0])
    (event,) = receipt.events_named("MeterRegistered")
    assert event.args == {"meter": third.meter, "publicId": public_id_bytes(third.public_id),
                          "household": third.account, "powerVa": DEFAULT_POWER_VA}
    assert registry.powerOf(third.meter) == DEFAULT_POWER_VA
    assert registry.meterCount() == 3
    assert registry.householdOf(third.meter) == third.account
    assert registry.meterOf(third.account) == third.meter
    assert registry.meterByPublicId(public_id_bytes(third.public_id)) == third.meter
    assert registry.lastReading(third.meter) == [True, 0, 0, 0]
    assert registry.lastReading(chain.accounts[9].address) == [False, 0, 0, 0]


@pytest.mark.parametrize("case, error, args", [
    ("zero meter", "ZeroAddress", {}),
    ("zero household", "ZeroAddress", {}),
    ("empty id", "EmptyPublicId", "meter"),
    ("meter twice", "MeterAlreadyRegistered", "meter"),
    ("id taken", "PublicIdTaken", "id"),
    ("household has a meter", "HouseholdHasMeter", "household"),
])
def test_ambiguous_registrations_are_refused(env, case, error, args):
    chain, registry, homes = env
    first, _, third = homes
    meter, public_id, household = third.meter, public_id_bytes(third.public_id), third.account
    if case == "zero meter":
        meter = ZERO
    elif case == "zero household":
        household = ZERO
    elif case == "empty id":
        public_id = b"\0" * 32
    elif case == "meter twice":
        meter = first.meter
    elif case == "id taken":
        public_id = public_id_bytes(first.public_id)
    else:
        household = first.account
    with chain.expect_revert(error) as caught:
        registry.register([(meter, public_id, household)], sender=chain.accounts[0])
    expected = {"meter": {"meter": meter}, "id": {"publicId": public_id, "meter": first.meter},
                "household": {"household": first.account, "meter": first.meter}}
    assert caught.revert.args == (expected[args] if isinstance(args, str) else args)
    assert registry.meterCount() == 2


def test_a_batch_registers_all_or_nothing(env):
    chain, registry, homes = env
    fresh = make_members([chain.accounts[8].address, chain.accounts[9].address], seed=8)
    batch = [(h.meter, public_id_bytes(h.public_id), h.account) for h in fresh]
    with chain.expect_revert("HouseholdHasMeter"):
        registry.register(batch + [(homes[2].meter, b"x".ljust(32, b"\0"), fresh[0].account)],
                          sender=chain.accounts[0])
    assert registry.meterCount() == 2 and not registry.lastReading(fresh[0].meter)[0]
    registry.register(batch, sender=chain.accounts[0])
    assert registry.meterCount() == 4


def test_only_the_operator_registers(env):
    chain, registry, homes = env
    intruder = chain.accounts[5]
    with chain.expect_revert("AccessControlUnauthorizedAccount") as caught:
        registry.register([(homes[2].meter, public_id_bytes("X"), homes[2].account)],
                          sender=intruder)
    assert caught.revert.args == {"account": intruder.address,
                                  "neededRole": keccak(text="OPERATOR_ROLE")}
    assert registry.meterCount() == 2


def test_first_reading_anchors_the_indexes_then_energy_is_their_difference(env):
    chain, registry, homes = env
    home = homes[0]
    relay = chain.accounts[6]  # anyone may relay a signed reading
    anchor = sign(registry, chain, home.meter_key, home.meter, 1_900_000, 12_345_000, 4_000)
    receipt = submit(registry, 1_900_000, anchor, sender=relay)
    (event,) = receipt.events_named("ReadingAccepted")
    assert event.args == {"meter": home.meter, "slot": 1_900_000, "importWh": 12_345_000,
                          "exportWh": 4_000, "importedWh": 0, "exportedWh": 0}
    later = sign(registry, chain, home.meter_key, home.meter, 1_900_003, 12_345_250, 4_900)
    (event,) = submit(registry, 1_900_003, later, sender=relay).events_named("ReadingAccepted")
    assert (event.args["importedWh"], event.args["exportedWh"]) == (250, 900)
    assert registry.lastReading(home.meter) == [True, 1_900_003, 12_345_250, 4_900]
    # The largest index, on a meter of the largest power after long enough (2,100 slots).
    big = homes[2]
    registry.registerWithPower([(big.meter, public_id_bytes(big.public_id), big.account)],
                               [MAX_POWER_VA], sender=chain.accounts[0])
    for slot, index in ((1_000_000, 0), (1_002_100, MAX_INDEX_WH)):
        reading = sign(registry, chain, big.meter_key, big.meter, slot, index, 0)
        (event,) = submit(registry, slot, reading).events_named("ReadingAccepted")
    assert event.args["importedWh"] == MAX_INDEX_WH


def test_a_forged_or_tampered_signature_is_refused(env):
    chain, registry, (home, other, _) = env
    forged = sign(registry, chain, other.meter_key, home.meter, 1_900_000, 100, 0)
    with chain.expect_revert("InvalidSignature") as caught:
        submit(registry, 1_900_000, forged)
    assert caught.revert.args == {"meter": home.meter}
    honest = sign(registry, chain, home.meter_key, home.meter, 1_900_000, 100, 0)
    tampered = SignedReading(home.meter, 1_900_000, 99, 0, honest.r, honest.vs)
    garbage = SignedReading(home.meter, 1_900_000, 100, 0, b"\0" * 32, b"\0" * 32)
    high_s = SignedReading(home.meter, 1_900_000, 100, 0, honest.r, b"\x7f" + b"\xff" * 31)
    for bad in (tampered, garbage, high_s):
        with chain.expect_revert("InvalidSignature"):
            submit(registry, 1_900_000, bad)
    assert registry.lastReading(home.meter) == [True, 0, 0, 0]


def test_a_replayed_reading_is_refused(env):
    chain, registry, (home, *_) = env
    first = sign(registry, chain, home.meter_key, home.meter, 1_900_000, 100, 0)
    second = sign(registry, chain, home.meter_key, home.meter, 1_900_005, 300, 0)
    submit(registry, 1_900_000, first)
    submit(registry, 1_900_005, second)
    for slot, reading in ((1_900_005, second), (1_900_000, first)):
        with chain.expect_revert("StaleReading") as caught:
            submit(registry, slot, reading)
        assert caught.revert.args == {"meter": home.meter, "slot": slot, "lastSlot": 1_900_005}
    with chain.expect_revert("InvalidSignature"):  # the signature binds the slot
        submit(registry, 1_900_006, second)
    assert registry.lastReading(home.meter) == [True, 1_900_005, 300, 0]


def test_a_reading_signed_for_another_registry_or_chain_is_refused(env):
    chain, registry, (home, *_) = env
    twin = chain.deploy("MeterRegistry", chain.accounts[0].address, sender=chain.accounts[0])
    twin.register([(home.meter, public_id_bytes(home.public_id), home.account)],
                  sender=chain.accounts[0])
    for reading in (sign_reading(home.meter_key, twin.address, chain.w3.eth.chain_id,
                                 home.meter, 1_900_000, 100, 0),
                    sign_reading(home.meter_key, registry.address, 1, home.meter, 1_900_000,
                                 100, 0)):
        with chain.expect_revert("InvalidSignature"):
            submit(registry, 1_900_000, reading)


def test_an_unregistered_meter_is_refused_even_with_its_own_signature(env):
    chain, registry, homes = env
    stranger = homes[2]
    reading = sign(registry, chain, stranger.meter_key, stranger.meter, 1_900_000, 100, 0)
    with chain.expect_revert("UnknownMeter") as caught:
        submit(registry, 1_900_000, reading)
    assert caught.revert.args == {"meter": stranger.meter}


@pytest.mark.parametrize("import_wh, export_wh", [(999, 50), (1000, 49)])
def test_an_index_going_backwards_is_refused(env, import_wh, export_wh):
    chain, registry, (home, *_) = env
    submit(registry, 1_900_000, sign(registry, chain, home.meter_key, home.meter, 1_900_000,
                                     1000, 50))
    back = sign(registry, chain, home.meter_key, home.meter, 1_900_001, import_wh, export_wh)
    with chain.expect_revert("IndexWentBackwards") as caught:
        submit(registry, 1_900_001, back)
    assert caught.revert.args == {"meter": home.meter, "lastImportWh": 1000,
                                  "importWh": import_wh, "lastExportWh": 50,
                                  "exportWh": export_wh}


def test_real_meters_register_by_their_public_id_and_sign_their_indexes(env, testdata):
    """A Linky producer (TIC standard mode) and a DSMR 5 meter, decoded from published bytes."""
    chain, registry, _ = env
    linky = tic.decode_frames(
        (testdata / "tic" / "std_mono_producer_openhab_reframed.bin").read_bytes())[0].reading()
    p1 = dsmr.parse_telegram(
        (testdata / "dsmr" / "dsmr50_iskra_crc6EEE.txt").read_bytes()).reading()
    homes = make_members([chain.accounts[7].address, chain.accounts[8].address], seed=9)
    registry.register([(h.meter, public_id_bytes(r.meter_id), h.account)
                       for h, r in zip(homes, (linky, p1))], sender=chain.accounts[0])
    for home, meter_reading in zip(homes, (linky, p1)):
        assert registry.meterByPublicId(public_id_bytes(meter_reading.meter_id)) == home.meter
        reading = sign(registry, chain, home.meter_key, home.meter, 1_900_000,
                       meter_reading.import_wh, meter_reading.export_wh)
        submit(registry, 1_900_000, reading)
        assert registry.lastReading(home.meter) == [True, 1_900_000, meter_reading.import_wh,
                                                    meter_reading.export_wh]
    assert (linky.meter_id, linky.export_wh) == ("123456789012", 32_781)
    assert (p1.import_wh, p1.export_wh) == (6_825, 2_444)


def test_python_faces_validate_their_inputs():
    key = Account.from_key(b"\1" * 32)
    for kwargs, name in (({"slot": 0}, "slot"), ({"import_wh": -1}, "import_wh"),
                         ({"export_wh": MAX_INDEX_WH + 1}, "export_wh"),
                         ({"slot": True}, "slot")):
        args = {"slot": 5, "import_wh": 1, "export_wh": 1, **kwargs}
        with pytest.raises(ContractsError, match=f"^{name} must be an integer"):
            sign_reading(key, ZERO, 1, key.address, **args)
    for bad in ("", "x" * 33, "compteur-été", 12):
        with pytest.raises(ContractsError, match="public_id must be 1 to 32 ASCII"):
            public_id_bytes(bad)
    assert public_id_bytes("041876543210") == b"041876543210" + b"\0" * 20
    same, again, other = (make_members(["0x" + "11" * 20], seed=s) for s in (3, 3, 4))
    assert same[0].meter == again[0].meter != other[0].meter
    assert same[0].public_id == "000003000000"
