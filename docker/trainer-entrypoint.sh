#!/usr/bin/env bash
# Punto de entrada de las imágenes del entrenador: traduce las variables de entorno (los mismos
# nombres que el Makefile y .env) a flags de `python -m trainer`. Una variable vacía o sin
# definir no añade su flag, así que rigen los valores por defecto del entrenador, que son los de
# `make train`. Los argumentos del comando van al final: en argparse gana el último, así que
# `docker compose run trainer --max-steps 50` manda sobre MAX_STEPS.
set -euo pipefail

args=()
add_flag() {
	# add_flag FLAG VALOR: solo si el valor no está vacío.
	if [[ -n "${2:-}" ]]; then
		args+=("$1" "$2")
	fi
}

add_flag --model "${MODEL:-}"
add_flag --data "${DATA:-}"
add_flag --max-steps "${MAX_STEPS:-}"
add_flag --device "${DEVICE:-}"
add_flag --checkpoint-dir "${CHECKPOINT_DIR:-}"
add_flag --n-embd "${N_EMBD:-}"
add_flag --n-head "${N_HEAD:-}"
add_flag --n-layer "${N_LAYER:-}"
add_flag --batch-size "${BATCH_SIZE:-}"
add_flag --block-size "${BLOCK_SIZE:-}"
add_flag --seed "${SEED:-}"
add_flag --tokenizer "${TOKENIZER:-}"
add_flag --vocab-size "${VOCAB_SIZE:-}"
add_flag --run-name "${RUN_NAME:-}"

# TRAIN_ARGS: flags extra separados por espacios, igual que en el Makefile.
read -r -a extra <<<"${TRAIN_ARGS:-}"

# exec: python pasa a ser el proceso 1 del contenedor y recibe el SIGTERM de `docker stop`,
# con el que el entrenador guarda un checkpoint y termina limpiamente.
# NUM_GPUS > 1 (perfil de GPU): un proceso por GPU con torchrun y DistributedDataParallel.
num_gpus="${NUM_GPUS:-1}"
if [[ "$num_gpus" =~ ^[0-9]+$ ]] && ((num_gpus > 1)); then
	exec python -m torch.distributed.run --standalone --nproc_per_node="$num_gpus" \
		-m trainer "${args[@]}" "${extra[@]}" "$@"
fi
exec python -m trainer "${args[@]}" "${extra[@]}" "$@"
