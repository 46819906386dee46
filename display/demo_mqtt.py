"""Demo: a board controller that holds an MQTT session instead of polling, like many 4G boards.

It connects with the last will ``offline`` on its status topic, announces ``online``, and takes
the frames pushed to it (keeping the newest, as a board's display would).  Reconnects on its own
if the broker goes away.
"""

from __future__ import annotations

import asyncio
import logging

import aiomqtt

from display.mqtt import client_options, frame_topic, status_topic

log = logging.getLogger(__name__)


async def simulate_mqtt_board(url: str, board_id: str, firmware: str = "ZQ-4G 1.8") -> None:
    options = client_options(url)
    frames = 0
    while True:
        try:
            client = aiomqtt.Client(
                **options, identifier=f"board-{board_id}", keepalive=30,
                will=aiomqtt.Will(status_topic(board_id), b"offline", qos=1, retain=True))
            async with client:
                await client.subscribe(frame_topic(board_id), qos=1)
                await client.publish(status_topic(board_id), f'{{"status": "online", "firmware": "{firmware}"}}',
                                     qos=1, retain=True)
                try:
                    async for message in client.messages:
                        frames += 1
                        log.debug("demo board %s got frame %d (%d bytes)", board_id, frames, len(message.payload))
                except asyncio.CancelledError:  # switched off cleanly: say so (no will is sent then)
                    await asyncio.wait_for(client.publish(status_topic(board_id), b"offline", qos=1, retain=True), 2)
                    raise
        except aiomqtt.MqttError as exc:
            log.info("demo MQTT board %s: %s; reconnecting", board_id, exc)
            await asyncio.sleep(5)
