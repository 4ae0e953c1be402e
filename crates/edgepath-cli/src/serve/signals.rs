//! What the operating system asks of a running exporter: stop, or reload its
//! configuration. On Unix SIGTERM and Ctrl-C stop it and SIGHUP reloads (as Prometheus'
//! own daemons do); Windows has no SIGHUP, so there Ctrl-C, Ctrl-Break, closing the
//! console, logging off and shutting down stop it, and a reload is a restart.

use anyhow::{Context, Result};

/// One request from the operating system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// End the exporter.
    Stop,
    /// Read the configuration and endpoint data again (Unix only: SIGHUP).
    #[cfg_attr(windows, allow(dead_code))]
    Reload,
}

/// The signals watched, set up before the exporter says it listens: a SIGHUP sent as
/// soon as that line shows must reload, not end the process (its default action).
pub struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    hup: tokio::signal::unix::Signal,
    #[cfg(windows)]
    brk: tokio::signal::windows::CtrlBreak,
    #[cfg(windows)]
    close: tokio::signal::windows::CtrlClose,
    #[cfg(windows)]
    logoff: tokio::signal::windows::CtrlLogoff,
    #[cfg(windows)]
    shutdown: tokio::signal::windows::CtrlShutdown,
}

impl Signals {
    /// Starts watching (inside the runtime).
    #[cfg(unix)]
    pub fn watch() -> Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            term: signal(SignalKind::terminate()).context("cannot watch for SIGTERM")?,
            hup: signal(SignalKind::hangup()).context("cannot watch for SIGHUP")?,
        })
    }

    /// Starts watching (inside the runtime).
    #[cfg(windows)]
    pub fn watch() -> Result<Self> {
        use tokio::signal::windows;
        Ok(Signals {
            brk: windows::ctrl_break().context("cannot watch for Ctrl-Break")?,
            close: windows::ctrl_close().context("cannot watch for the console's closing")?,
            logoff: windows::ctrl_logoff().context("cannot watch for logoff")?,
            shutdown: windows::ctrl_shutdown().context("cannot watch for shutdown")?,
        })
    }

    /// The next request.
    #[cfg(unix)]
    pub async fn next(&mut self) -> Request {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => Request::Stop,
            _ = self.term.recv() => Request::Stop,
            _ = self.hup.recv() => Request::Reload,
        }
    }

    /// The next request.
    #[cfg(windows)]
    pub async fn next(&mut self) -> Request {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => Request::Stop,
            _ = self.brk.recv() => Request::Stop,
            _ = self.close.recv() => Request::Stop,
            _ = self.logoff.recv() => Request::Stop,
            _ = self.shutdown.recv() => Request::Stop,
        }
    }
}
