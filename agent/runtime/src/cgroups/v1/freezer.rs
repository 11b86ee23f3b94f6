//! v1 `freezer` controller (cgroup-v1/freezer-subsystem.rst).

use std::path::Path;
use std::time::Duration;

use crate::cgroups::{Error, FreezerState, Result, files, wait_until};

pub(crate) fn set(dir: &Path, state: FreezerState) -> Result<()> {
    let (value, want) = match state {
        FreezerState::Frozen => ("FROZEN", "FROZEN"),
        FreezerState::Thawed => ("THAWED", "THAWED"),
    };
    files::write(dir, "freezer.state", value)?;
    let mut err = None;
    let mut rounds = 0u32;
    let ok = wait_until(Duration::from_secs(10), || {
        rounds += 1;
        match files::read(dir, "freezer.state") {
            Ok(s) if s.trim() == want => true,
            Ok(_) => {
                // A task forking while we freeze can leave FREEZING: ask again.
                if rounds.is_multiple_of(10) {
                    let _ = files::write(dir, "freezer.state", value);
                }
                false
            }
            Err(e) => {
                err = Some(e);
                true
            }
        }
    });
    if let Some(e) = err {
        return Err(e);
    }
    if !ok {
        return Err(Error::Busy {
            path: dir.join("freezer.state"),
            waited: Duration::from_secs(10),
        });
    }
    Ok(())
}

pub(crate) fn get(dir: &Path) -> Result<FreezerState> {
    Ok(match files::read(dir, "freezer.state")?.trim() {
        "THAWED" => FreezerState::Thawed,
        _ => FreezerState::Frozen,
    })
}
