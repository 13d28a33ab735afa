package config

import (
	"sync"

	"go.yaml.in/yaml/v3"
)

// The file's keys: one tree that the decoder, the writer, the example file
// and the README's reference are all made from, so that none of them can
// name a key the others do not know.

// key is a key of the file: a value (val), a section of keys (keys), or a
// list of sections (keys with item).
type key struct {
	name string
	// def is the default as the file writes it (YAML), "" for none; doc
	// says in one line what the key does.
	def, doc string
	val      func(t any) value
	keys     []*key
	// present is called when a section is in the file, before its keys.
	present func(t any)
	// item adds an item to a list of sections and returns it, the target
	// of keys; items are the list's items, for writing.
	item  func(t any) any
	items func(t any) []any
	// secret values are not shown when a reload lists what changed.
	secret bool
	// zeroOK: the field's zero value is the default, so the file may
	// write it. When it is not, a zero in the file is refused: the
	// library would read it as the default, not as what it says.
	zeroOK bool
	// neg: a negative value means none (written -1).
	neg bool
	// file: the value names a file, whose contents a reload compares.
	file bool
}

func leaf(name, def, doc string, val func(c *Config) value) *key {
	return &key{name: name, def: def, doc: doc, val: func(t any) value { return val(t.(*Config)) }}
}

func lleaf(name, def, doc string, val func(l *listenerFile) value) *key {
	return &key{name: name, def: def, doc: doc, val: func(t any) value { return val(t.(*listenerFile)) }}
}

func group(name, doc string, keys ...*key) *key { return &key{name: name, doc: doc, keys: keys} }

// none marks a key whose negative value means "none".
func none(k *key) *key { k.neg = true; return k }

// named marks a key whose value is a file's name.
func named(k *key) *key { k.file = true; return k }

// hidden marks a secret.
func hidden(k *key) *key { k.secret = true; return k }

var (
	schemaOnce sync.Once
	schemaKeys []*key
)

// schema is the file's top-level keys.
func schema() []*key {
	schemaOnce.Do(func() {
		schemaKeys = buildSchema()
		for _, k := range schemaKeys {
			settle(k, &Config{})
		}
	})
	return schemaKeys
}

// settle works out zeroOK for k and the keys under it, by reading each
// default into a scratch target.
func settle(k *key, t any) {
	if k.item != nil {
		t = &listenerFile{}
	}
	for _, c := range k.keys {
		settle(c, t)
	}
	if k.val == nil {
		return
	}
	v := k.val(t)
	if _, ok := v.(boolV); ok || k.def == "" {
		k.zeroOK = true
		return
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(k.def), &doc); err != nil || len(doc.Content) == 0 || doc.Content[0].ShortTag() == "!!null" {
		k.zeroOK = true
		return
	}
	if err := v.set(doc.Content[0]); err != nil {
		panic("config: the default of " + k.name + " does not read: " + err.Error())
	}
	k.zeroOK = v.zero()
}

func buildSchema() []*key {
	listener := []*key{
		lleaf("id", `""`, "names the listener in logs and reloads (default: its type and address)",
			func(l *listenerFile) value { return strV{&l.ID} }),
		lleaf("type", "tcp", "tcp, tls, ws, wss or unix (tcp4 and tcp6 for one IP version only)",
			func(l *listenerFile) value { return enumV{p: &l.Type, names: Types} }),
		lleaf("address", `""`, "host:port (:1883 every interface, port 0 a free one); ws and wss: host:port/path (path /mqtt by default); unix: the socket's path",
			func(l *listenerFile) value { return strV{&l.Address} }),
		lleaf("proxy", "false", "every connection starts with a PROXY protocol header (v1 or v2) from a load balancer",
			func(l *listenerFile) value { return boolV{p: &l.Proxy} }),
		lleaf("max_frame", "0", "ws and wss: the largest WebSocket frame payload; 0: the largest MQTT packet, 1MiB and its header",
			func(l *listenerFile) value { return sizeV[int]{p: &l.MaxFrame} }),
		lleaf("origins", "[]", `ws and wss: the web origins whose pages may connect (https://app.example.com; "*" any); empty: any`,
			func(l *listenerFile) value { return listV{&l.Origins} }),
		lleaf("max_clients", "0", "clients connected through this listener at once; past it CONNECT is refused (v5: 0x97); 0: no cap",
			func(l *listenerFile) value { return intV[int]{p: &l.MaxClients} }),
		lleaf("connect_rate", "0", "new connections per second; past it CONNECT is refused (v5: 0x9F); 0: no cap",
			func(l *listenerFile) value { return floatV{&l.ConnectRate} }),
		lleaf("connect_burst", "0", "connections taken at once above connect_rate; 0: connect_rate rounded up",
			func(l *listenerFile) value { return intV[int]{p: &l.ConnectBurst} }),
		{name: "tls", doc: "tls and wss: the listener's certificate (required there, refused elsewhere)",
			present: func(t any) { t.(*listenerFile).hasTLS = true },
			keys: []*key{
				named(lleaf("cert", `""`, "the certificate (chain), PEM; read again on SIGHUP",
					func(l *listenerFile) value { return strV{&l.TLS.CertFile} })),
				named(lleaf("key", `""`, "its private key, PEM; read again on SIGHUP",
					func(l *listenerFile) value { return strV{&l.TLS.KeyFile} })),
				named(lleaf("client_ca", `""`, "a CA certificate, PEM: clients must present a certificate it signed (mutual TLS)",
					func(l *listenerFile) value { return strV{&l.TLS.ClientCAFile} })),
				lleaf("username", `""`, "cn or san: a client's username is its certificate's common name or first DNS name (needs client_ca)",
					func(l *listenerFile) value {
						return enumV{p: &l.TLS.Username, names: []string{"cn", "san"}, empty: true}
					}),
			}},
	}
	return []*key{
		{name: "listeners", doc: "where clients connect; absent: one tcp listener on 127.0.0.1:1883", keys: listener,
			item: func(t any) any {
				c := t.(*Config)
				l := &listenerFile{}
				c.lfiles = append(c.lfiles, l)
				return l
			},
			items: func(t any) []any {
				var out []any
				for _, l := range t.(*Config).lfiles {
					out = append(out, l)
				}
				return out
			}},
		group("auth", "who may connect and what they may do; without any, listeners off loopback are refused",
			leaf("allow_anonymous", "false", "take clients nobody authenticates on listeners reachable from the network",
				func(c *Config) value { return boolV{p: &c.Options.AllowAnonymous} }),
			named(leaf("ledger_file", `""`, "a ledger of users and ACLs: Loom's YAML or JSON, or Mochi MQTT's ledger; read again on SIGHUP",
				func(c *Config) value { return strV{&c.Auth.LedgerFile} })),
			hidden(leaf("ledger", "", "the same rules inline, in Loom's ledger format (not with ledger_file); read again on SIGHUP",
				func(c *Config) value { return inlineV{c} })),
			named(leaf("password_file", `""`, "Mosquitto's password file (mosquitto_passwd's hashes); read again on SIGHUP",
				func(c *Config) value { return strV{&c.Auth.PasswordFile} })),
			named(leaf("acl_file", `""`, "Mosquitto's ACL file; read again on SIGHUP",
				func(c *Config) value { return strV{&c.Auth.ACLFile} })),
			leaf("http_auth", `""`, "a URL each CONNECT's credentials are POSTed to (JSON)",
				func(c *Config) value { return strV{&c.Auth.HTTPAuth} }),
			leaf("http_acl", `""`, "a URL each publish and subscription is POSTed to for a decision",
				func(c *Config) value { return strV{&c.Auth.HTTPACL} }),
		),
		group("storage", "what outlives a restart: persistent sessions, subscriptions, retained messages",
			leaf("data_dir", "loom-data", "the folder that keeps them (created if missing)",
				func(c *Config) value { return dataDirV{c} }),
			leaf("memory", "false", "keep nothing on disk (then no other storage key)",
				func(c *Config) value { return memoryV{c} }),
			leaf("sync", "interval", "when changes reach the disk: always, interval or none",
				func(c *Config) value { return syncV{&c.Options.Sync} }),
			leaf("sync_interval", "5ms", "under sync: interval, about what a power cut may take",
				func(c *Config) value { return durV{p: &c.Options.SyncInterval} }),
			leaf("refuse_damaged_log", "false", "do not start when a write-ahead log is damaged (default: start and log an ERROR)",
				func(c *Config) value { return boolV{p: &c.Options.RefuseDamagedLog} }),
			leaf("cache_size", "8MiB", "the store's block cache",
				func(c *Config) value { return sizeV[int64]{p: &c.Options.StoreCacheSize} }),
			leaf("memtable_size", "4MiB", "the store's write buffer",
				func(c *Config) value { return sizeV[int64]{p: &c.Options.StoreMemTableSize} }),
		),
		group("mqtt", "the protocol as clients see it",
			leaf("server_keep_alive", "0s", "caps every client's keep alive (v5: sent as Server Keep Alive); 0s: the client's own",
				func(c *Config) value { return secondsV{&c.Options.Limits.ServerKeepAlive} }),
			leaf("max_qos", "2", "the highest QoS taken and granted: 0, 1 or 2",
				func(c *Config) value { return qosV{&c.Options.Capabilities.MaxQoS} }),
			leaf("retain", "true", "retained messages (v5: Retain Available)",
				func(c *Config) value { return boolV{p: &c.Options.Capabilities.DisableRetain, not: true} }),
			leaf("wildcards", "true", "subscriptions with + and # (v5: Wildcard Subscription Available)",
				func(c *Config) value { return boolV{p: &c.Options.Capabilities.DisableWildcards, not: true} }),
			leaf("subscription_identifiers", "true", "v5 Subscription Identifiers",
				func(c *Config) value { return boolV{p: &c.Options.Capabilities.DisableSubscriptionIDs, not: true} }),
			leaf("shared_subscriptions", "true", "$share/group/filter subscriptions",
				func(c *Config) value { return boolV{p: &c.Options.Capabilities.DisableSharedSubscriptions, not: true} }),
			leaf("max_packet_size", "1MiB", "the largest packet taken from a client (told to v5 clients)",
				func(c *Config) value { return sizeV[int]{p: &c.Options.Limits.MaxPacketSize, max: 268435455 + 5} }),
			leaf("receive_maximum", "1024", "the broker's inbound QoS 2 window, told to v5 clients",
				func(c *Config) value { return intV[uint16]{p: &c.Options.Limits.ReceiveMaximum} }),
			leaf("max_inflight", "256", "outbound QoS 1 and 2 messages awaiting acknowledgement, per session",
				func(c *Config) value { return intV[uint16]{p: &c.Options.Limits.MaxInflight} }),
			leaf("topic_alias_maximum", "64", "topic aliases a v5 client may use towards the broker",
				func(c *Config) value { return intV[uint16]{p: &c.Options.Limits.TopicAliasMaximum} }),
			none(leaf("max_topic_alias_out", "64", "topic aliases the broker assigns towards a v5 client; -1: none",
				func(c *Config) value { return intV[int]{p: &c.Options.Limits.MaxTopicAliasOut, neg: true} })),
			none(leaf("max_message_expiry", "24h", "the longest a message is kept for delivery; -1: no maximum",
				func(c *Config) value { return durV{p: &c.Options.Limits.MaxMessageExpiry, neg: true} })),
			none(leaf("max_session_expiry", "168h", "the longest a session outlives its connection; -1: no maximum",
				func(c *Config) value { return durV{p: &c.Options.Limits.MaxSessionExpiry, neg: true} })),
			leaf("queue_qos0", "false", "keep QoS 0 messages for offline persistent sessions too",
				func(c *Config) value { return boolV{p: &c.Options.Limits.QueueQoS0} }),
			leaf("connect_timeout", "10s", "a connection whose CONNECT has not come by then is closed",
				func(c *Config) value { return durV{p: &c.Options.Limits.ConnectTimeout} }),
			leaf("response_information", `""`, "sent to v5 clients that ask, as the base of their response topics",
				func(c *Config) value { return strV{&c.Options.Capabilities.ResponseInformation} }),
			leaf("redirect", `""`, "turns v5 clients away to this server (CONNACK 0x9C; 3.1.1: refused)",
				func(c *Config) value { return strV{&c.Options.Capabilities.Redirect} }),
			leaf("redirect_permanent", "false", "with redirect: the server moved (CONNACK 0x9D)",
				func(c *Config) value { return boolV{p: &c.Options.Capabilities.RedirectPermanent} }),
			none(leaf("sys_interval", "10s", "how often the $SYS topics are published; -1: never",
				func(c *Config) value { return durV{p: &c.Options.SysInterval, neg: true} })),
		),
		group("limits", "what clients may make the broker hold and do",
			leaf("max_connections", "0", "open connections; 0: what the open-file limit allows",
				func(c *Config) value { return intV[int]{p: &c.Options.MaxConnections} }),
			leaf("max_clients", "0", "clients connected at once, all listeners together; past it CONNECT is refused (v5: 0x97); 0: no cap",
				func(c *Config) value { return intV[int]{p: &c.Options.Limits.MaxClients} }),
			none(leaf("max_sessions", "10000", "persistent sessions kept, online or offline; -1: no limit",
				func(c *Config) value { return intV[int]{p: &c.Options.Limits.MaxPersistentSessions, neg: true} })),
			none(leaf("max_session_bytes", "4MiB", "what one session may hold, queued and in flight; -1: no bound",
				func(c *Config) value { return sizeV[int64]{p: &c.Options.Limits.MaxSessionBytes, neg: true} })),
			none(leaf("memory_budget", "64MiB", "what the broker may hold for all subscribers together; -1: no budget",
				func(c *Config) value { return sizeV[int64]{p: &c.Options.Limits.MemoryBudget, neg: true} })),
			leaf("max_queued", "10000", "messages a session holds beyond its inflight window",
				func(c *Config) value { return intV[int]{p: &c.Options.Limits.MaxQueued} }),
			leaf("outbound_limit", "4MiB", "bytes waiting on one connection past which QoS 0 deliveries to it are dropped",
				func(c *Config) value { return sizeV[int]{p: &c.Options.Limits.OutboundLimit} }),
			none(leaf("ingest_backlog", "4096", "routing work waiting past which publishers are paused; -1: never paused",
				func(c *Config) value { return intV[int]{p: &c.Options.Limits.IngestBacklog, neg: true} })),
			leaf("inline_queue", "1024", "QoS 0 messages waiting for one inline subscription's handler",
				func(c *Config) value { return intV[int]{p: &c.Options.Limits.InlineQueue} }),
			leaf("disconnect_on_queue_full", "false", "end the connection of a client whose queue overflows (v5: 0x97) instead of dropping",
				func(c *Config) value { return boolV{p: &c.Options.Limits.DisconnectOnQueueFull} }),
			leaf("max_connect_size", "64KiB", "the largest packet before CONNECT completes (v5: CONNACK 0x95 past it)",
				func(c *Config) value { return sizeV[int]{p: &c.Options.Limits.MaxConnectSize} }),
			none(leaf("preconnect_budget", "8MiB", "what connections that have not completed CONNECT may leave buffered, all together; -1: no budget",
				func(c *Config) value { return sizeV[int]{p: &c.Options.Limits.PreConnectBudget, neg: true} })),
			leaf("publish_rate", "0", "PUBLISH packets per second one client may send; 0: no cap",
				func(c *Config) value { return floatV{&c.Options.Limits.PublishRate} }),
			leaf("publish_burst", "0", "publishes taken at once above publish_rate; 0: publish_rate rounded up",
				func(c *Config) value { return intV[int]{p: &c.Options.Limits.PublishBurst} }),
			leaf("publish_byte_rate", "0", "PUBLISH bytes per second one client may send, a size (64KiB); 0: no cap",
				func(c *Config) value { return sizeV[int64]{p: &c.Options.Limits.PublishByteRate} }),
			leaf("publish_byte_burst", "0", "bytes taken at once above publish_byte_rate; 0: publish_byte_rate",
				func(c *Config) value { return sizeV[int64]{p: &c.Options.Limits.PublishByteBurst} }),
			leaf("close_linger", "2s", "how long a connection stays open for the client to read the broker's last packet",
				func(c *Config) value { return durV{p: &c.Options.Limits.CloseLinger} }),
		),
		group("server", "how the broker runs",
			leaf("loops", "0", "event loops, 1 to 256; 0: one per CPU",
				func(c *Config) value { return intV[int]{p: &c.Options.Loops, max: 256} }),
			leaf("router_shards", "0", "subscription shards, each with a goroutine; 0: one per CPU",
				func(c *Config) value { return intV[int]{p: &c.Options.RouterShards} }),
			none(leaf("match_cache_size", "4096", "topics per shard whose subscribers are cached; -1: no cache",
				func(c *Config) value { return intV[int]{p: &c.Options.MatchCacheSize, neg: true} })),
			leaf("handshakes", "0", "TLS handshakes in progress at once; 0: 64 per CPU",
				func(c *Config) value { return intV[int]{p: &c.Options.Handshakes} }),
			leaf("handshake_timeout", "10s", "a TLS handshake not done by then fails",
				func(c *Config) value { return durV{p: &c.Options.HandshakeTimeout} }),
			leaf("return_memory", "true", "give memory back to the system when the broker has gone quiet",
				func(c *Config) value { return boolV{p: &c.Options.ReturnMemory} }),
		),
		group("http", "the HTTP API, Prometheus metrics and dashboard; off unless address is set",
			leaf("address", `""`, "host:port to serve on; off loopback, a token or a username and password is required",
				func(c *Config) value { return strV{&c.HTTP.Address} }),
			hidden(leaf("token", `""`, "a bearer token the requests carry (Authorization: Bearer ...)",
				func(c *Config) value { return strV{&c.HTTP.Token} })),
			leaf("username", `""`, "HTTP basic authentication's user",
				func(c *Config) value { return strV{&c.HTTP.Username} }),
			hidden(leaf("password", `""`, "and its password",
				func(c *Config) value { return strV{&c.HTTP.Password} })),
		),
		group("log", "the broker's log, on standard error",
			leaf("level", "info", "debug, info, warn or error; applied again on SIGHUP",
				func(c *Config) value { return levelV{&c.Log.Level} }),
			leaf("format", "text", "text (key=value) or json, one object a line",
				func(c *Config) value { return enumV{p: &c.Log.Format, names: []string{"text", "json"}} }),
		),
		leaf("shutdown_timeout", "10s", "the longest a stop (SIGTERM, SIGINT) takes before the process exits",
			func(c *Config) value { return durV{p: &c.ShutdownTimeout} }),
		leaf("pprof", `""`, "serve Go's profiles on this loopback address (127.0.0.1:6060), for measuring",
			func(c *Config) value { return strV{&c.Pprof} }),
	}
}
