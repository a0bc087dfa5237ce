"""The daemon: builds store, clock, plugins, actors and HTTP, starts them in one order, stops in reverse."""

from __future__ import annotations

import logging
import os
import socket
import threading
from dataclasses import dataclass, replace
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import peewee
import pykka

from ilertd import __version__, collector
from ilertd.actors.ask import answers_ping
from ilertd.actors.channel import ChannelActor
from ilertd.actors.clock import Clock, ManualClock, RealClock, follow_shared_clock, make_manual_clock
from ilertd.actors.gateway import ActorGateway
from ilertd.actors.heartbeat import HeartbeatActor
from ilertd.actors.messages import Ping
from ilertd.actors.retention import RetentionActor
from ilertd.actors.runtime import Runtime, answering_for
from ilertd.actors.schedule import ScheduleActors
from ilertd.actors.supervisor import Supervisor
from ilertd.app import bootstrap
from ilertd.app.application import Application
from ilertd.app.context import Context
from ilertd.app.password_hashing import password_hashing
from ilertd.channels.sender_numbers import reply_numbers
from ilertd.channels.setup import channels_from_config
from ilertd.config.settings import Config, is_loopback
from ilertd.domain.notification_plan import THROTTLE_WINDOW
from ilertd.domain.timeutil import format_instant
from ilertd.errors import StartError
from ilertd.generation_watch import GenerationWatcher
from ilertd.leadership import Leadership, node_name
from ilertd.metrics import Metrics
from ilertd.plugins.manager import PluginManager
from ilertd.process_edges import handle_signals, host_for_url, listening_socket, wait_for_stop
from ilertd.relay import Relay
from ilertd.store.committer import Committer
from ilertd.store.db import data_dir, is_sqlite, open_database
from ilertd.store.files import secure_directory
from ilertd.store.lock import StoreLock
from ilertd.store.outbox import last_sent
from ilertd.systemd import Notifier, Watchdog
from ilertd.tracker import WorkTracker
from ilertd.web.app import build_app
from ilertd.web.events import Ingestion
from ilertd.web.fastpath import ASGIApp
from ilertd.web.server import HttpServer
from ilertd.web.services import Services

logger = logging.getLogger("ilertd")

# Sends block their actor's thread; two per method let a slow provider delay only half its pages.
CHANNEL_ACTORS_PER_METHOD = 2


@dataclass(frozen=True)
class ServeOptions:
    host: str | None = None
    port: int | None = None
    manual_clock: bool = False
    clock_start: str | None = None


class Daemon:
    def __init__(self, config: Config, options: ServeOptions, directory: Path | None = None) -> None:
        server = config.server
        if options.host is not None:
            server = replace(server, host=options.host)
        if options.port is not None:
            server = replace(server, port=options.port)
        self.config = replace(config, server=server)
        self.options = options
        self.directory = directory if directory is not None else data_dir()
        self.stop_requested = threading.Event()
        self.db: peewee.Database | None = None
        self.lock: StoreLock | None = None
        self.leadership: Leadership | None = None
        self.node = ""
        self.relay: Relay | None = None
        # The relay starts once both hold: this node leads, and ingestion works.
        self.leading = False
        self.taking_events = False
        self.web_app: ASGIApp | None = None
        self.exit_code = 0
        self.tracker = WorkTracker(counting=options.manual_clock)
        # This daemon's own registry, handed to the committer, the actors and the web layer.
        self.metrics = Metrics(version=__version__)
        self.clock: Clock | None = None
        self.committer: Committer | None = None
        self.supervisor: Any = None
        self.runtime: Runtime | None = None
        # The application layer's ways to the actors (its Context's callbacks).
        self.gateway: ActorGateway | None = None
        self.http: HttpServer | None = None
        self.port: int | None = None
        self.listener: socket.socket | None = None
        self.plugins: PluginManager | None = None
        self.services: Services | None = None
        self.channel_actors: list[Any] = []
        self.schedule_actors: ScheduleActors | None = None
        self.heartbeat_actor: Any = None
        self.retention_actor: Any = None
        self.notifier = Notifier()
        self.watchdog: Watchdog | None = None
        self.watcher = GenerationWatcher()  # what `ilertd provision` wrote from another process

    # --- the order -------------------------------------------------------------------------

    def run(self) -> int:
        handle_signals(self.stop_requested)
        collector.tune()
        try:
            self.start()
            collector.settle()
            logger.info("ilertd ready: serving on http://%s:%s", self.config.server.host, self.port)
            print(f"ilertd: serving on http://{host_for_url(self.config.server.host)}:{self.port}",
                  flush=True)
            self.notifier.notify(f"READY=1\nSTATUS=serving on port {self.port}\nMAINPID={os.getpid()}")
            self.start_watchdog()
            wait_for_stop(self.stop_requested)
            logger.info("ilertd stopping")
            self.notifier.notify("STOPPING=1")
        finally:
            self.stop()
        return self.exit_code

    def start(self, listen: bool = True) -> None:
        """Everything but the wait: with `listen` False no socket is opened and `services` is what
        an in-process client (an ASGI transport) is served by."""
        if self.options.manual_clock and not is_loopback(self.config.server.host):
            raise StartError("--manual-clock is refused unless the server binds to loopback")
        secure_directory(self.directory)
        if listen:
            self.bind()
        self.start_store()
        self.start_clock()
        self.start_committer()
        self.plugins = self.start_plugins()
        self.start_runtime()
        self.node = node_name(self.port if listen else None)
        self.services = self.make_services(self.plugins)
        # The leader runs the actors; a follower (PostgreSQL, the lock held elsewhere) serves reads
        # and hands writes to the leader.
        self.leadership = Leadership(self.db, self.node, self.lead, self.leadership_lost, self.runtime.fence)
        if not self.leadership.try_lead():
            self.runtime.schedules.keeping = False
            self.metrics.leader.set(0)
            logger.info("leadership: another node leads; %s follows", self.leadership.name)
        self.watcher.start(self.services.app.ctx)
        # Ingestion works from here; startups run before HTTP (a failed one's routes are not built).
        self.plugins.start(Ingestion(self.services), self.services.app.replies)
        self.web_app = build_app(self.services)
        self.relay = Relay(self.db, self.node, self.web_app)
        self.taking_events = True
        self.start_relay()
        if listen:
            self.start_http()
        self.leadership.start()

    def lead(self) -> None:
        """What the leader runs, in order: channels (an overdue page may be due now), schedules,
        the supervisor (which re-arms every open incident's deadline and every scheduled page from
        the store: what came due while nobody led fires once, at once), then heartbeats."""
        assert self.runtime is not None and self.services is not None
        if isinstance(self.clock, ManualClock) and self.clock.shared:
            follow_shared_clock(self.clock)
        # A follower's caches may be older than the leader's last writes.
        for cache in (self.runtime.people, self.runtime.policies, self.runtime.schedules,
                      self.runtime.maintenance, self.services.sources):
            cache.invalidate()
        self.runtime.schedules.keeping = True
        self.start_channels()
        assert self.schedule_actors is not None
        self.schedule_actors.start_all()
        self.start_supervisor()
        self.services.supervisor = self.supervisor
        self.start_heartbeats()
        self.start_retention()
        self.leading = True
        self.start_relay()
        self.metrics.leader.set(1)

    def start_relay(self) -> None:
        """Serve what followers queued, once this node leads and takes events: an event the relay
        took before ingestion worked was answered NOT_READY, though its follower had answered 202."""
        if self.relay is not None and self.leading and self.taking_events:
            self.relay.start()

    def leadership_lost(self) -> None:
        self.exit_code = 1
        self.stop_requested.set()

    def stop(self) -> None:
        self.stop_watchdog()
        if self.leadership is not None:
            self.leadership.stop_watching()
        if self.relay is not None:
            self.relay.stop()
        self.watcher.stop()
        self.stop_http()
        if self.plugins is not None:
            self.plugins.stop()
        self.stop_retention()
        self.stop_heartbeats()
        self.stop_supervisor()
        self.stop_schedules()
        self.stop_channels()
        self.stop_committer()
        self.stop_clock()
        if self.leadership is not None:
            self.leadership.release()
        self.stop_store()
        self.notifier.close()

    # --- start and stop, one pair per subsystem --------------------------------------------

    def start_store(self) -> None:
        url = self.config.database.effective_url(self.directory)
        self.db = open_database(url)
        self.lock = StoreLock(self.db, url, serving=True)
        self.lock.acquire()
        bootstrap.prepare_store(self.db, self.directory, self.config, RealClock().now())

    def stop_store(self) -> None:
        if self.lock is not None:
            self.lock.release()
        if self.db is not None and not self.db.is_closed():
            self.db.close()

    def start_clock(self) -> None:
        if self.options.manual_clock:
            assert self.db is not None
            self.clock = make_manual_clock(self.directory, self.options.clock_start, self.tracker,
                                           shared=not is_sqlite(self.db))
            logger.info("clock: manual, at %s", format_instant(self.clock.now()))
        else:
            self.clock = RealClock()
        self.clock.start()

    def stop_clock(self) -> None:
        if self.clock is not None:
            self.clock.stop()

    def start_committer(self) -> None:
        assert self.db is not None
        self.committer = Committer(self.db, self.tracker, self.metrics)
        self.committer.start()

    def stop_committer(self) -> None:
        if self.committer is not None:
            self.committer.stop()

    def start_plugins(self) -> PluginManager:
        """Load every plugin and check its `[plugins.NAME]`; one that is broken is reported and skipped."""
        plugins = PluginManager(self.config)
        plugins.load_entry_points()
        plugins.log_statuses()
        return plugins

    def bind(self) -> None:
        """Listen first: the port (0 picks one) is then known to every link the daemon writes."""
        self.listener = listening_socket(self.config.server.host, self.config.server.port)
        self.port = self.listener.getsockname()[1]
        self.config = replace(self.config, server=replace(self.config.server, port=self.port))

    def start_runtime(self) -> None:
        """What actors and the application share: caches, ids, the clock; no actor runs yet."""
        assert self.db is not None and self.clock is not None and self.committer is not None
        assert self.plugins is not None
        secret = bootstrap.secret_key(self.db, self.config.security.secret_key)
        answering = answering_for(self.config, secret, partial(self.plugins.runs, "smtp_in"))
        self.runtime = Runtime(self.db, self.clock, self.committer, self.tracker, self.config.public_url,
                               answering=answering, metrics=self.metrics)
        self.gateway = ActorGateway(self.runtime, lambda: self.supervisor, lambda: self.heartbeat_actor)
        self.schedule_actors = ScheduleActors(self.runtime)

    def start_channels(self) -> None:
        """Channel actors, for the methods the channel plugins register, start before the supervisor
        re-arms overdue pages, which may be due now."""
        assert self.runtime is not None and self.plugins is not None
        pools: dict[str, list[Any]] = {}
        # When each contact last got a message: one read for every actor (throttling over a restart).
        sent = last_sent(self.runtime.clock.now(), {m: THROTTLE_WINDOW[m] for m in self.plugins.channels})
        for round_number in range(CHANNEL_ACTORS_PER_METHOD):
            # Each actor its own channel objects: they hold per-send state.
            for method, channel in channels_from_config(self.config, self.plugins).items():
                layout = self.plugins.channels[method].layout
                pools.setdefault(method, []).append(
                    ChannelActor.start(self.runtime, method, channel, layout, sent.get(method)))
                if round_number == 0:
                    logger.info("channel %s: %s", method, channel.name)
        self.channel_actors = [actor for pool in pools.values() for actor in pool]
        for actor in self.channel_actors:
            actor.ask(Ping(), timeout=30)
        self.runtime.pages.attach(pools)

    def stop_channels(self) -> None:
        for actor in self.channel_actors:
            try:
                actor.stop(block=True, timeout=30)
            except pykka.Timeout:
                logger.error("a channel actor did not stop in time")

    def stop_schedules(self) -> None:
        if self.schedule_actors is not None:
            self.schedule_actors.stop_all()

    def start_supervisor(self) -> None:
        assert self.runtime is not None
        actors = self.config.actors
        self.supervisor = Supervisor.start(self.runtime, actors.max_live_incidents, actors.idle_seconds)
        # Start barrier: a failing on_start must stop the daemon now, not on the first event.
        self.supervisor.ask(Ping(), timeout=60)
        if isinstance(self.clock, ManualClock):
            # Deadlines that passed while the daemon was down fire once, at start.
            self.clock.advance(timedelta(0))

    def start_heartbeats(self) -> None:
        """After the supervisor (an overdue monitor opens an incident at once) and the application."""
        assert self.runtime is not None and self.services is not None
        app = self.services.app
        self.heartbeat_actor = HeartbeatActor.start(self.runtime, self.supervisor, app.heartbeats,
                                                    app.ctx.sources)
        self.heartbeat_actor.ask(Ping(), timeout=60)

    def start_retention(self) -> None:
        """Only where incidents are kept for a number of days: none kept for ever needs no thread."""
        assert self.runtime is not None
        days = self.config.retention.resolved_incident_days
        if days > 0:
            self.retention_actor = RetentionActor.start(self.runtime, days)

    def stop_retention(self) -> None:
        if self.retention_actor is not None:
            self.retention_actor.stop(block=True, timeout=30)
            self.retention_actor = None

    def stop_heartbeats(self) -> None:
        if self.heartbeat_actor is not None:
            self.heartbeat_actor.stop(block=True, timeout=30)
            self.heartbeat_actor = None

    def stop_supervisor(self) -> None:
        if self.supervisor is not None:
            self.supervisor.stop(block=True, timeout=30)

    def make_services(self, plugins: PluginManager) -> Services:
        assert self.db is not None and self.clock is not None and self.runtime is not None
        runtime, schedule_actors, clock = self.runtime, self.schedule_actors, self.clock
        gateway = self.gateway
        assert schedule_actors is not None and gateway is not None
        context = Context(
            db=self.db, now=self.clock.now, people=runtime.people, policies=runtime.policies,
            schedules=runtime.schedules, maintenance=runtime.maintenance,
            schedule_changed=schedule_actors.changed, duties_changed=schedule_actors.duties_changed,
            heartbeat_changed=gateway.heartbeat_changed,
            integration_types=lambda: {i.integration_type for i in plugins.integrations.values()},
            incident_action=gateway.incident_action, policy_moves_owed=gateway.policy_moves_owed,
            reachability_changed=gateway.reachability_changed, policy_edited=gateway.policy_edited,
            methods=lambda reminders: plugins.methods(reminders=reminders), laid_out=plugins.laid_out,
            secret_key=self.config.security.secret_key, passwords=password_hashing(self.config.security),
            test_page=gateway.test_page, pages_moved=gateway.pages_moved, move_holds=gateway.move_holds,
            reply_numbers=reply_numbers(self.config), mail_domain=self.config.smtp_in.own_domain,
        )
        return Services(
            config=self.config, db=self.db, clock=self.clock, tracker=self.tracker,
            supervisor=self.supervisor, plugins=plugins, public_url=self.config.public_url,
            app=Application(context), metrics=self.metrics,
            role=lambda: self.leadership.role if self.leadership is not None else "follower",
            node=self.node,
            follow_clock=partial(follow_shared_clock, clock)
            if isinstance(clock, ManualClock) and clock.shared else None,
        )

    def start_http(self) -> None:
        assert self.web_app is not None and self.listener is not None
        self.http = HttpServer(self.config.server, self.listener)
        self.http.start(self.web_app)

    def stop_http(self) -> None:
        if self.http is not None:
            self.http.stop()

    def start_watchdog(self) -> None:
        # A follower has no actors of its own to wedge.
        self.watchdog = Watchdog(self.notifier, lambda timeout: self.supervisor is None
                                 or answers_ping(self.supervisor, timeout))
        self.watchdog.start()

    def stop_watchdog(self) -> None:
        if self.watchdog is not None:
            self.watchdog.stop()
