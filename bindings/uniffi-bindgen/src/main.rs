//! `cargo run -p uniffi-bindgen -- generate --library <lib> --language kotlin --out-dir <dir>`
//!
//! Kept in the workspace so the generator always matches the uniffi version the library
//! was built with; see scripts/build-bindings.sh.

fn main() {
    uniffi::uniffi_bindgen_main()
}
