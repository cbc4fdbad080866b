"""DeepGU, deep generative endmember modelling for unmixing with spectral variability
(Borsoi, Imbiriba and Bermudez, IEEE TCI 2019).

Presets follow Secs. VI-VII: latent dimension 2, 50 VAE epochs, bundles of 100 pixels,
lambda_Z = 0.1, lambda_A in [0.005, 0.01, 0.05] (the best per scene is reported, as the paper's
grid search did), at most 10 outer iterations, 30 dB noise. ``book`` runs 4 outer iterations
instead of 10 to fit the CPU budget; ``smoke`` shrinks everything.
"""

from companion.chapters import Param, Target

TITLE = "DeepGU: deep generative endmember models for spectral variability"
ORDER = 4

PARAMETERS = {
    "device": Param(str, "torch device: 'auto', 'cpu' or 'cuda'"),
    "seed": Param(int, "seed of the scenes (variability, noise), VCA and the VAEs"),
    "snr_db": Param(float, "SNR of the synthetic scenes in dB (paper: 30)"),
    "scenes": Param(list, "synthetic scenes of Table III", item=str, choices=("dc1", "dc2")),
    "epochs": Param(int, "VAE training epochs (paper: 50)"),
    "bundle_size": Param(int, "pixels per endmember bundle (paper: 100)"),
    "outer": Param(int, "maximum outer iterations of Algorithm 1 (paper: 10)"),
    "latent_iter": Param(int, "maximum BFGS iterations of each latent step"),
    "lambda_z": Param(float, "latent regularisation lambda_Z (paper: 0.1)"),
    "lambda_a_grid": Param(list, "TV weights lambda_A tried (paper: 0.005, 0.01, 0.05)", item=float),
    "elmm_lambda_psi": Param(float, "ELMM: weight pulling the scalings towards 1 (our choice)"),
    "elmm_lambda_a": Param(float, "ELMM: TV weight (reference example: 0.05)"),
    "real": Param(list, "real scenes with ground truth (Table IV-style)", item=str,
                  choices=("samson", "jasper")),
    "real_lambda_a": Param(float, "lambda_A of DeepGU on the real scenes"),
}

_PAPER_PROTOCOL = {"snr_db": 30.0, "epochs": 50, "bundle_size": 100, "outer": 10, "latent_iter": 50,
                   "lambda_z": 0.1, "lambda_a_grid": [0.005, 0.01, 0.05], "elmm_lambda_psi": 0.1,
                   "elmm_lambda_a": 0.05, "real_lambda_a": 0.05}

PRESETS = {
    "smoke": {**_PAPER_PROTOCOL, "device": "cpu", "seed": 0, "scenes": ["dc2"], "epochs": 5,
              "outer": 1, "latent_iter": 10, "lambda_a_grid": [0.05], "real": []},
    # book: 4 outer iterations instead of 10 (CPU budget); everything else as the paper
    "book": {**_PAPER_PROTOCOL, "device": "auto", "seed": 0, "scenes": ["dc1", "dc2"], "outer": 4,
             "real": ["samson", "jasper"]},
    "paper": {**_PAPER_PROTOCOL, "device": "auto", "seed": 0, "scenes": ["dc1", "dc2"],
              "real": ["samson", "jasper"]},
}

# Table III, DeepGU row: eq. 14 RMSE (unitless reflectance / abundance units), eq. 15 SAM in rad.
# Tolerances: 0.01 for abundance and endmember errors and SAM, 0.005 for the reconstruction.
PAPER_TARGETS = [
    Target("dc1_deepgu_rmse_a", "DC1 DeepGU RMSE_A", 0.0230, "", "Table III", 0.01),
    Target("dc1_deepgu_rmse_m", "DC1 DeepGU RMSE_M", 0.0692, "", "Table III", 0.01),
    Target("dc1_deepgu_sam_m", "DC1 DeepGU SAM_M", 0.0233, "rad", "Table III", 0.01),
    Target("dc1_deepgu_rmse_y", "DC1 DeepGU RMSE_Y", 0.0323, "", "Table III", 0.005),
    Target("dc1_fcls_rmse_a", "DC1 FCLS RMSE_A", 0.1161, "", "Table III", 0.01),
    Target("dc1_elmm_rmse_a", "DC1 ELMM RMSE_A", 0.1039, "", "Table III", 0.01),
    Target("dc2_deepgu_rmse_a", "DC2 DeepGU RMSE_A", 0.0442, "", "Table III", 0.01),
    Target("dc2_deepgu_rmse_m", "DC2 DeepGU RMSE_M", 0.0286, "", "Table III", 0.01),
    Target("dc2_deepgu_sam_m", "DC2 DeepGU SAM_M", 0.0323, "rad", "Table III", 0.01),
    Target("dc2_deepgu_rmse_y", "DC2 DeepGU RMSE_Y", 0.0249, "", "Table III", 0.005),
    Target("dc2_fcls_rmse_a", "DC2 FCLS RMSE_A", 0.0591, "", "Table III", 0.01),
    Target("dc2_elmm_rmse_a", "DC2 ELMM RMSE_A", 0.0507, "", "Table III", 0.01),
]

# Table III, every row, quoted: RMSE_A, RMSE_M, SAM_M, RMSE_Y, time (s); None = "—" in the paper.
QUOTED_TABLE3 = {
    "dc1": {"FCLS": [0.1161, None, None, 0.0253, 0.71], "PLMM": [0.1059, 0.0787, 0.0440, 0.0005, 122.09],
            "ELMM": [0.1039, 0.0756, 0.0398, 0.0232, 8.82], "GLMM": [0.1009, 0.0759, 0.0355, 0.0169, 23.74],
            "DeepGU": [0.0230, 0.0692, 0.0233, 0.0323, 75.20]},
    "dc2": {"FCLS": [0.0591, None, None, 0.0255, 0.38], "PLMM": [0.0547, 0.0297, 0.0378, 0.0218, 41.31],
            "ELMM": [0.0507, 0.0349, 0.0382, 0.0149, 20.25], "GLMM": [0.0523, 0.0329, 0.0367, 0.0147, 17.03],
            "DeepGU": [0.0442, 0.0286, 0.0323, 0.0249, 36.40]},
}

# Table IV, quoted: MSE_Y and time (s) on Houston and Cuprite (images not staged).
QUOTED_TABLE4 = {
    "FCLS": [0.0478, 2.56, 0.0057, 20.1], "PLMM": [0.0359, 663.25, 0.0089, 6464.92],
    "ELMM": [0.0033, 38.3, 0.0060, 772.75], "GLMM": [0.0003, 48.53, 0.0085, 4128.49],
    "DeepGU": [0.0455, 259.61, 0.0115, 7096.73],
}
