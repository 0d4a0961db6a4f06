//! Host bindings of the v1 contract, generated from `wit/v1`.

wasmtime::component::bindgen!({
    path: "../wit/v1",
    world: "plugin",
});
