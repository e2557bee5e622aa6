"""A real SMTP server for the tests (aiosmtpd): stores every message it accepts.

For each accepted message N it writes, in --dir:
  N.eml   the raw message as received (after DATA)
  N.json  envelope and decoded view: mail_from, rcpt_tos, headers, text, html
Options: --delay seconds to wait after storing a message before answering 250 (the
window in which a client that dies has been accepted but never heard it), --reject
a substring of recipient addresses to refuse with a permanent 550.
Prints READY once it listens.
"""
import argparse
import asyncio
import email
import email.policy
import json
import os

from aiosmtpd.smtp import SMTP


class Sink:
    def __init__(self, directory, delay, reject):
        self.directory = directory
        self.delay = delay
        self.reject = reject
        self.count = len([f for f in os.listdir(directory) if f.endswith(".json")])

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.reject and self.reject in address:
            return "550 5.1.1 <%s>: mailbox unavailable" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        n = self.count
        raw = envelope.original_content or envelope.content
        message = email.message_from_bytes(raw, policy=email.policy.default)
        parts = {"text": None, "html": None}
        for part in message.walk():
            kind = part.get_content_type()
            if kind == "text/plain" and parts["text"] is None:
                parts["text"] = part.get_content()
            elif kind == "text/html" and parts["html"] is None:
                parts["html"] = part.get_content()
        view = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "headers": {k.lower(): str(v) for k, v in message.items()},
            "content_type": message.get_content_type(),
            "text": parts["text"],
            "html": parts["html"],
        }
        base = os.path.join(self.directory, "%05d" % n)
        with open(base + ".eml", "wb") as f:
            f.write(raw)
        with open(base + ".tmp", "w") as f:
            json.dump(view, f)
        os.rename(base + ".tmp", base + ".json")
        if self.delay:
            await asyncio.sleep(self.delay)
        return "250 2.0.0 Ok: stored as %d" % n


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--reject", default="")
    args = parser.parse_args()
    sink = Sink(args.dir, args.delay, args.reject)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(sink, hostname="sink.test"), "127.0.0.1", args.port)
    print("READY", flush=True)
    async with server:
        await server.serve_forever()


asyncio.run(main())
