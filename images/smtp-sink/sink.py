# An SMTP sink for berth's notification tests: accepts mail (AUTH PLAIN/LOGIN without TLS, the
# password from SMTP_PASSWORD when set) and prints each message as one JSON line on stdout.
import asyncio, json, os
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

PASSWORD = os.environ.get("SMTP_PASSWORD")

def authenticate(server, session, envelope, mechanism, auth_data):
    if not isinstance(auth_data, LoginPassword):
        return AuthResult(success=False, handled=False)
    ok = PASSWORD is None or auth_data.password.decode() == PASSWORD
    if ok:
        session.berth_login = auth_data.login.decode()
    return AuthResult(success=ok, handled=False)

class Sink:
    async def handle_DATA(self, server, session, envelope):
        print(json.dumps({
            "from": envelope.mail_from,
            "to": envelope.rcpt_tos,
            "login": getattr(session, "berth_login", None),
            "data": envelope.content.decode("utf8", "replace"),
        }), flush=True)
        return "250 OK"

async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(Sink(), authenticator=authenticate, auth_require_tls=False, auth_required=PASSWORD is not None),
        "0.0.0.0", 2525)
    print(json.dumps({"listening": 2525}), flush=True)
    async with server:
        await server.serve_forever()

asyncio.run(main())
