//! The `integration-model` types this crate uses, in one place.
pub(crate) use integration_model::{
    AuthType, AwsEndpointUrl, AwsProfile, Endpoint, Host, InstanceId, InstanceSelector,
    Integration, Region, TagFilters,
};
