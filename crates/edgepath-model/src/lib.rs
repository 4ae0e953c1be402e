//! edgepath's model of what a Skype for Business Online / Microsoft Teams
//! client needs to reach the Microsoft 365 edge: the services and their
//! ports, Microsoft's endpoint data, the provisioned media port ranges and
//! their QoS markings. Every lens (probe, policy, capture) speaks in these
//! terms. No I/O here beyond parsing text handed in.
#![forbid(unsafe_code)]

pub mod catalog;
pub mod diff;
pub mod endpoints;
pub mod modality;
pub mod pac_answer;
pub mod ports;
pub mod provisioning;
pub mod rulebook;
pub mod service;
pub mod sites;
pub mod snapshot;
pub mod time;
pub mod vendor;
pub mod version;
pub mod vocab;

pub use catalog::{Catalog, CatalogError, CatalogService, EndpointSource};
pub use diff::{diff as diff_endpoints, EndpointDiff};
pub use endpoints::{Category, EndpointData, EndpointError, EndpointSet};
pub use modality::{Dscp, MediaRanges, Modality, QosRule};
pub use ports::{PortError, PortRange, PortSet};
pub use provisioning::{Provisioning, ProvisioningError};
pub use service::{Profile, ServiceId, SourceClass};
pub use sites::{Inventory, Site, SiteProblem, Subnet};
pub use version::{DataVersion, Freshness, VersionError, STALE_AFTER_DAYS};
pub use vocab::{
    Family, FlowService, FlowVerdict, MediaPath, ProxyVendor, QosState, Severity, SiteFileFormat,
    SiteProblemKind, Status, TcpFraming, Via, VpnState,
};
