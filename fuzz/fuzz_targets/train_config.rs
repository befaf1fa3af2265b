//! The training configurations read from TOML: a fine-tuning run
//! (`anomaly::finetune::FinetuneConfig::from_toml`, `vlm-inspect train --config` and the
//! training form) and the vision tower's pretraining (`vlm::train::tower::TowerOptions`, as
//! `vlm-inspect model pretrain-tower --config` reads it). Any text is a config or an error, and
//! an accepted config survives `to_toml` and parsing back.
#![no_main]

use anomaly::finetune::FinetuneConfig;
use libfuzzer_sys::fuzz_target;
use vlm::train::tower::TowerOptions;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(cfg) = FinetuneConfig::from_toml(text) {
        let again = FinetuneConfig::from_toml(&cfg.to_toml());
        assert_eq!(
            again.ok().as_ref(),
            Some(&cfg),
            "a written config reads back"
        );
    }
    if let Ok(options) = toml::from_str::<TowerOptions>(text) {
        if options.validate().is_ok() {
            let written = toml::to_string(&options).expect("valid options serialise");
            let again = toml::from_str::<TowerOptions>(&written);
            assert_eq!(
                again.ok().as_ref(),
                Some(&options),
                "written options read back"
            );
        }
    }
});
