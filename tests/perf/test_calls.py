"""How `aib perf`'s senders reach a server: shared channels and one stream per sender."""

import itertools

import pytest

from aib_deploy.errors import AibError
from aib_deploy.perf.calls import SENDERS_PER_CHANNEL, ChannelPool, OwnStream


def test_senders_share_a_channel_up_to_the_limit_then_open_another_and_reuse_freed_places():
    opened = itertools.count(1)
    pool = ChannelPool("channel 0", lambda: f"channel {next(opened)}")
    holders = [pool.stub() for _ in range(SENDERS_PER_CHANNEL + 2)]
    stubs = [holder.__enter__() for holder in holders]
    assert stubs == ["channel 0"] * SENDERS_PER_CHANNEL + ["channel 1"] * 2
    holders[0].__exit__(None, None, None)  # a place on the first channel is free again
    with pool.stub() as freed, pool.stub() as next_free:
        assert (freed, next_free) == ("channel 0", "channel 1")


class Stream:
    """What gRPC's stream call gives: an iterator of answers that can be cancelled."""

    def __init__(self, requests, answers):
        self.requests, self.answers, self.cancelled = requests, iter(answers), False

    def __iter__(self):
        return self

    def __next__(self):
        next(self.requests)  # one answer per request taken
        return next(self.answers)

    def cancel(self):
        self.cancelled = True


def test_a_stream_the_server_ends_fails_one_request_and_the_next_opens_another():
    opened = []

    def open_stream(requests):
        opened.append(Stream(requests, ["ok"] if not opened else ["ok", "ok"]))
        return opened[-1]

    checked = []
    stream = OwnStream(open_stream, checked.append)
    stream.send("a")
    with pytest.raises(AibError, match="the server ended the stream"):
        stream.send("b")
    assert opened[0].cancelled and len(opened) == 1
    stream.send("c")
    stream.send("d")
    stream.close()
    assert len(opened) == 2 and opened[1].cancelled and checked == ["ok", "ok", "ok"]
