import pytest

from engage import crypto


def test_round_trip_with_the_key_derived_from_secret_key(settings):
    settings.ENGAGE_ENCRYPTION_KEYS = []

    token = crypto.encrypt("wJalrXUtnFEMI/K7MDENG")

    assert "wJalr" not in token
    assert crypto.decrypt(token) == "wJalrXUtnFEMI/K7MDENG"


def test_rotation_old_key_still_decrypts(settings):
    old, new = crypto.generate_key(), crypto.generate_key()
    settings.ENGAGE_ENCRYPTION_KEYS = [old]
    token = crypto.encrypt("secret")

    settings.ENGAGE_ENCRYPTION_KEYS = [new, old]

    assert crypto.decrypt(token) == "secret"


def test_unknown_key_cannot_decrypt(settings):
    settings.ENGAGE_ENCRYPTION_KEYS = [crypto.generate_key()]
    token = crypto.encrypt("secret")
    settings.ENGAGE_ENCRYPTION_KEYS = [crypto.generate_key()]

    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(token)
