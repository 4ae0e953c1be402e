//! Windows registry values the probe needs: the Internet Settings that name the proxy,
//! and the policy-based QoS policies.
//! The values are read with `RegGetValueW`, which NUL-terminates strings and checks
//! types; a value that is missing reads as absent.
#![allow(unsafe_code)]

use windows_sys::Win32::Foundation::{ERROR_FILE_NOT_FOUND, ERROR_NO_MORE_ITEMS, NO_ERROR};
use windows_sys::Win32::System::Registry::{
    RegCloseKey, RegEnumKeyExW, RegGetValueW, RegOpenKeyExW, HKEY, HKEY_CURRENT_USER,
    HKEY_LOCAL_MACHINE, KEY_READ, RRF_RT_REG_BINARY, RRF_RT_REG_DWORD, RRF_RT_REG_SZ,
};

use crate::system_proxy::InternetSettings;

const SETTINGS: &str = r"Software\Microsoft\Windows\CurrentVersion\Internet Settings";
const POLICY: &str = r"Software\Policies\Microsoft\Windows\CurrentVersion\Internet Settings";
const CONNECTIONS: &str =
    r"Software\Microsoft\Windows\CurrentVersion\Internet Settings\Connections";
const TCPIP: &str = r"SYSTEM\CurrentControlSet\Services\Tcpip\Parameters";

/// The DNS suffixes WPAD discovery starts from: the search list, else the primary
/// domain (what `ipconfig /all` shows as "DNS Suffix Search List").
pub fn dns_search_domains() -> Result<Vec<String>, String> {
    let mut out: Vec<String> = string(HKEY_LOCAL_MACHINE, TCPIP, "SearchList")?
        .unwrap_or_default()
        .split([',', ' '])
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(str::to_owned)
        .collect();
    if out.is_empty() {
        for name in ["Domain", "NV Domain"] {
            if let Some(d) =
                string(HKEY_LOCAL_MACHINE, TCPIP, name)?.filter(|d| !d.trim().is_empty())
            {
                out.push(d.trim().to_owned());
                break;
            }
        }
    }
    Ok(out)
}

/// The Internet Settings in force, and where they came from: the machine's when the
/// policy `ProxySettingsPerUser` is 0, else the current user's.
pub fn internet_settings() -> Result<(InternetSettings, &'static str), String> {
    let per_machine = dword(HKEY_LOCAL_MACHINE, POLICY, "ProxySettingsPerUser")? == Some(0);
    let (root, source) = if per_machine {
        (
            HKEY_LOCAL_MACHINE,
            "Windows Internet Settings (machine, by policy)",
        )
    } else {
        (HKEY_CURRENT_USER, "Windows Internet Settings")
    };
    Ok((
        InternetSettings {
            proxy_enable: dword(root, SETTINGS, "ProxyEnable")?.is_some_and(|v| v != 0),
            proxy_server: string(root, SETTINGS, "ProxyServer")?,
            proxy_override: string(root, SETTINGS, "ProxyOverride")?,
            auto_config_url: string(root, SETTINGS, "AutoConfigURL")?,
            auto_detect: binary(root, CONNECTIONS, "DefaultConnectionSettings")?
                .as_deref()
                .and_then(crate::system_proxy::auto_detect_flag),
        },
        source,
    ))
}

const QOS: &str = r"Software\Policies\Microsoft\Windows\QoS";

/// The values a QoS policy's key holds (all strings).
const QOS_VALUES: &[&str] = &[
    "Application Name",
    "Protocol",
    "Local Port",
    "Local IP",
    "Remote Port",
    "Remote IP",
    "DSCP Value",
];

/// Every QoS policy, the machine's then the user's: its name (with where it is) and
/// the values it has.
pub fn qos_policies() -> Result<Vec<crate::qos::PolicyKey>, String> {
    let mut out = Vec::new();
    for (root, place) in [(HKEY_LOCAL_MACHINE, "machine"), (HKEY_CURRENT_USER, "user")] {
        for name in subkeys(root, QOS)? {
            let key = format!("{QOS}\\{name}");
            let mut values = Vec::new();
            for v in QOS_VALUES {
                if let Some(data) = string(root, &key, v)? {
                    values.push(((*v).to_owned(), data));
                }
            }
            out.push((format!("{name} ({place})"), values));
        }
    }
    Ok(out)
}

/// The names of the subkeys of `key` (none when it is missing), at most 1,000.
fn subkeys(root: HKEY, key: &str) -> Result<Vec<String>, String> {
    let k = wide(key);
    let mut handle: HKEY = std::ptr::null_mut();
    // SAFETY: `k` is NUL-terminated; `handle` receives an open key on success.
    let err = unsafe { RegOpenKeyExW(root, k.as_ptr(), 0, KEY_READ, &mut handle) };
    match err {
        NO_ERROR => {}
        ERROR_FILE_NOT_FOUND => return Ok(Vec::new()),
        e => return Err(format!("registry {key}: error {e}")),
    }
    let mut names = Vec::new();
    let mut result = Ok(());
    for index in 0..1000 {
        // Key names are at most 255 characters.
        let mut buf = [0u16; 256];
        let mut len = buf.len() as u32;
        // SAFETY: `handle` is open; `buf` holds `len` characters.
        let err = unsafe {
            RegEnumKeyExW(
                handle,
                index,
                buf.as_mut_ptr(),
                &mut len,
                std::ptr::null(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
        match err {
            NO_ERROR => {
                let len = (len as usize).min(buf.len());
                names.push(String::from_utf16_lossy(&buf[..len]));
            }
            ERROR_NO_MORE_ITEMS => break,
            e => {
                result = Err(format!("registry {key}: error {e}"));
                break;
            }
        }
    }
    // SAFETY: `handle` was opened above and is closed once.
    unsafe { RegCloseKey(handle) };
    result.map(|()| names)
}

fn wide(s: &str) -> Vec<u16> {
    s.encode_utf16().chain(std::iter::once(0)).collect()
}

/// One `RegGetValueW` call for `name` under `root\key`, of the types `flags` allow,
/// into `size` bytes at `data` (null: the size only). `Ok(false)`: the value (or its key)
/// is missing.
///
/// # Safety
/// `data` is null or points to `*size` writable bytes.
unsafe fn get_value(
    root: HKEY,
    key: &str,
    name: &str,
    flags: u32,
    data: *mut std::ffi::c_void,
    size: &mut u32,
) -> Result<bool, String> {
    let (k, n) = (wide(key), wide(name));
    // SAFETY: the names are NUL-terminated; `data` and `size` as the caller promises.
    let err = unsafe {
        RegGetValueW(
            root,
            k.as_ptr(),
            n.as_ptr(),
            flags,
            std::ptr::null_mut(),
            data,
            size,
        )
    };
    match err {
        NO_ERROR => Ok(true),
        ERROR_FILE_NOT_FOUND => Ok(false),
        e => Err(format!("registry {key}\\{name}: error {e}")),
    }
}

/// A REG_DWORD value; `None` when it (or its key) is missing.
fn dword(root: HKEY, key: &str, name: &str) -> Result<Option<u32>, String> {
    let mut value: u32 = 0;
    let mut size = std::mem::size_of::<u32>() as u32;
    let data = std::ptr::addr_of_mut!(value).cast();
    // SAFETY: `value` has the `size` bytes said.
    let found = unsafe { get_value(root, key, name, RRF_RT_REG_DWORD, data, &mut size)? };
    Ok(found.then_some(value))
}

/// The bytes of a value of the types `flags` allow, asked for its size first and
/// refused above `limit` bytes (the values read here are short: a huge one is an error,
/// not an allocation); `None` when it (or its key) is missing.
fn bytes(
    root: HKEY,
    key: &str,
    name: &str,
    flags: u32,
    limit: u32,
) -> Result<Option<Vec<u8>>, String> {
    let mut size: u32 = 0;
    // SAFETY: a null buffer asks for the size only.
    if !unsafe { get_value(root, key, name, flags, std::ptr::null_mut(), &mut size)? } {
        return Ok(None);
    }
    if size > limit {
        return Err(format!("registry {key}\\{name}: {size} bytes is too long"));
    }
    let mut buf = vec![0u8; size as usize];
    let mut size = buf.len() as u32;
    // SAFETY: `buf` has `size` writable bytes.
    if !unsafe { get_value(root, key, name, flags, buf.as_mut_ptr().cast(), &mut size)? } {
        return Ok(None);
    }
    buf.truncate(size as usize);
    Ok(Some(buf))
}

/// A REG_SZ value (Internet Settings, QoS policies: at most 64 KiB); `None` when it (or
/// its key) is missing.
fn string(root: HKEY, key: &str, name: &str) -> Result<Option<String>, String> {
    let Some(raw) = bytes(root, key, name, RRF_RT_REG_SZ, 64 * 1024)? else {
        return Ok(None);
    };
    let text: Vec<u16> = raw
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    let end = text.iter().position(|&c| c == 0).unwrap_or(text.len());
    Ok(Some(String::from_utf16_lossy(&text[..end])))
}

/// A REG_BINARY value of at most 4 KiB; `None` when it (or its key) is missing.
fn binary(root: HKEY, key: &str, name: &str) -> Result<Option<Vec<u8>>, String> {
    bytes(root, key, name, RRF_RT_REG_BINARY, 4096)
}
