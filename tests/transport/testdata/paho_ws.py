"""Python's paho-mqtt over a WebSocket listener, for TestPythonPaho
(tests/transport/clients_test.go).

    python3 paho_ws.py HOST PORT PATH VERSION TOPIC [CAFILE]

VERSION is 4 (3.1.1) or 5. With CAFILE the connection is wss, trusting that
CA. The client connects, subscribes to TOPIC/#, publishes
"hello from python" at QoS 1 to TOPIC/from-python and waits for it to come
back; it prints each message it receives as "topic|qos|retain|payload" and
exits 0, or prints why and exits 1. Written for paho-mqtt 1.6 (Debian 12)
and 2.x (Debian 13), whose callbacks differ: they take *args.
"""

import sys
import threading

import paho.mqtt.client as mqtt

WAIT = 10.0


def main():
    host, port, path, version, topic = sys.argv[1:6]
    cafile = sys.argv[6] if len(sys.argv) > 6 else None
    protocol = mqtt.MQTTv5 if version == "5" else mqtt.MQTTv311
    cid = "python-" + ("wss" if cafile else "ws") + "-v" + version
    kw = dict(client_id=cid, protocol=protocol, transport="websockets")
    if hasattr(mqtt, "CallbackAPIVersion"):  # paho-mqtt 2
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, **kw)
    else:
        client = mqtt.Client(**kw)
    client.ws_set_options(path=path)
    if cafile:
        client.tls_set(ca_certs=cafile)

    mine = topic + "/from-python"
    payload = "hello from python"
    done = threading.Event()
    failure = []

    def fail(why):
        failure.append(why)
        done.set()

    def on_connect(client, userdata, flags, rc, *rest):
        code = getattr(rc, "value", rc)
        if code != 0:
            fail("CONNACK %s" % rc)
            return
        client.subscribe(topic + "/#", qos=1)

    def on_subscribe(client, userdata, mid, granted, *rest):
        codes = [getattr(g, "value", g) for g in granted]
        if codes != [1]:
            fail("SUBACK %s" % codes)
            return
        client.publish(mine, payload, qos=1)

    def on_message(client, userdata, msg):
        text = msg.payload.decode()
        print("%s|%d|%d|%s" % (msg.topic, msg.qos, int(msg.retain), text), flush=True)
        if msg.topic == mine and text == payload:
            done.set()

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.connect(host, int(port), keepalive=30)
    client.loop_start()
    try:
        if not done.wait(WAIT):
            fail("no message back within %gs" % WAIT)
    finally:
        client.disconnect()
        client.loop_stop()
    if failure:
        print("FAILED: " + failure[0], file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
