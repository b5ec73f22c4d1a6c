"""Makes the decentralised-auth fixture for the creds tests: an operator, an account and a user (nkeys + JWTs),
with the nkeys package. Test keys only; they protect nothing. Run: python3 make_jwt_fixture.py"""
import base64, hashlib, json, time
import nkeys

def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")

def keypair(prefix, raw):
    seed = nkeys.encode_seed(raw, prefix)
    kp = nkeys.from_seed(seed)
    return kp, kp.public_key.decode(), seed.decode()

def jwt(issuer_kp, issuer_pub, subject, name, nats):
    claims = {"iat": 1764000000, "iss": issuer_pub, "name": name, "sub": subject, "nats": nats}
    claims["jti"] = base64.b32encode(hashlib.sha256(json.dumps(claims, sort_keys=True).encode()).digest()).decode().rstrip("=")
    header = b64(json.dumps({"typ": "JWT", "alg": "ed25519-nkey"}).encode())
    body = b64(json.dumps(claims).encode())
    signature = b64(issuer_kp.sign(f"{header}.{body}".encode()))
    return f"{header}.{body}.{signature}"

op_kp, op_pub, _ = keypair(nkeys.PREFIX_BYTE_OPERATOR, bytes([1] * 32))
acc_kp, acc_pub, _ = keypair(nkeys.PREFIX_BYTE_ACCOUNT, bytes([2] * 32))
user_kp, user_pub, user_seed = keypair(nkeys.PREFIX_BYTE_USER, bytes([3] * 32))
other_kp, other_pub, _ = keypair(nkeys.PREFIX_BYTE_ACCOUNT, bytes([4] * 32))
stranger_kp, stranger_pub, stranger_seed = keypair(nkeys.PREFIX_BYTE_USER, bytes([5] * 32))

unlimited = {"subs": -1, "conn": -1, "leaf": -1, "imports": -1, "exports": -1, "data": -1, "payload": -1, "wildcards": True}
operator_jwt = jwt(op_kp, op_pub, op_pub, "test-operator", {"type": "operator", "version": 2})
account_jwt = jwt(op_kp, op_pub, acc_pub, "test-account", {"limits": unlimited, "type": "account", "version": 2})
user_nats = {"pub": {}, "sub": {}, "subs": -1, "data": -1, "payload": -1, "type": "user", "version": 2}
user_jwt = jwt(acc_kp, acc_pub, user_pub, "test-user", user_nats)
# A user signed by an account the server does not know: its login is refused.
stranger_jwt = jwt(other_kp, other_pub, stranger_pub, "stranger", user_nats)

def creds(token, seed):
    return ("-----BEGIN NATS USER JWT-----\n" + token + "\n------END NATS USER JWT------\n\n"
            "************************* IMPORTANT *************************\n"
            "NKEY Seed printed below can be used to sign and prove identity.\n\n"
            "-----BEGIN USER NKEY SEED-----\n" + seed + "\n------END USER NKEY SEED------\n")

open("user.creds", "w").write(creds(user_jwt, user_seed))
open("stranger.creds", "w").write(creds(stranger_jwt, stranger_seed))
open("operator.conf", "w").write(
    f'operator: "{operator_jwt}"\nresolver: MEMORY\nresolver_preload: {{\n  {acc_pub}: "{account_jwt}"\n}}\n')
print("written")
